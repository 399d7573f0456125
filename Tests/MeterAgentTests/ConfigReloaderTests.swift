import Foundation
import MeterAgent
import MeterCore
import MeterTestSupport
import Synchronization
import Testing
@testable import MeterStore

/// The reloader's decisions, with running sites that only say how healthy they are (the real
/// ones, their buses and the uplink are in `ConfigApplyTests`): who may apply locally, what is
/// refused before anything stops, and that a failing config brings the previous one back.
@Suite(.timeLimit(.minutes(1)))
struct ConfigReloaderTests {
    static let profiles = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Hardware/profiles").path

    /// A site that is healthy unless it has a device called `nobody`.
    final class StandIn: RunningSite {
        let site: SiteConfig
        let windowOpen: Bool
        let stopped = Mutex(false)

        init(site: SiteConfig, windowOpen: Bool) {
            self.site = site
            self.windowOpen = windowOpen
        }

        func health() -> ConfigHealth {
            let answering = site.devices.map(\.id).filter { $0.rawValue != "nobody" }
            return ConfigHealth(site: site, busStatistics: [:], answered: Set(answering))
        }
        var maintenanceWindowOpen: Bool { windowOpen }
        func wakeUplink() {}
        func stop() async { stopped.withLock { $0 = true } }
    }

    final class Started: Sendable {
        private let sites = Mutex<[StandIn]>([])
        func append(_ site: StandIn) { sites.withLock { $0.append(site) } }
        var all: [StandIn] { sites.withLock { $0 } }
    }

    final class Rig {
        let dir: TemporaryDirectory
        let path: String
        let store: OutboxStore
        let reloader: ConfigReloader
        /// The sites started, in order.
        let started = Started()

        init(local: String = "open", windowOpen: Bool = false) async throws {
            dir = try TemporaryDirectory()
            path = dir.path("site.yaml")
            let text = Self.site(local: local, devices: ["m1"], store: dir.path("outbox.db"))
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            store = try OutboxStore(path: dir.path("outbox.db"))
            let site = try SiteConfigLoader.load(path: path, profilesDirectory: ConfigReloaderTests.profiles)
            let started = self.started
            reloader = ConfigReloader(configPath: path, profilesDirectory: ConfigReloaderTests.profiles, text: text, site: site, store: store,
                                      log: Log(minimum: .error) { _ in }, checkInterval: .milliseconds(20)) { site, _ in
                let running = StandIn(site: site, windowOpen: windowOpen)
                started.append(running)
                return running
            }
            try await reloader.begin()
        }

        static func site(local: String = "open", devices: [String], store: String) -> String {
            """
            gateway: gw-1
            store: {path: \(store)}
            apply: {health_deadline_s: 2, min_answering_percent: 100, local: \(local)}
            buses:
              - {id: rs485, type: serial, port: /dev/ttyUSB0, baud: 9600, parity: none}
            devices:
            \(devices.enumerated().map { "  - {id: \($1), bus: rs485, unit: \($0 + 1), profile: eastron-sdm120}" }.joined(separator: "\n"))

            """
        }

        func text(devices: [String], local: String = "open") -> String { Self.site(local: local, devices: devices, store: dir.path("outbox.db")) }
        var file: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        var runningDevices: [String] { reloader.site.devices.map(\.id.rawValue) }
    }

    @Test func aSiteThatAsksForItTakesALocalConfigOnlyFromRootOrInAMaintenanceWindow() async throws {
        let closed = try await Rig(local: "window_or_root")
        let refused = await closed.reloader.apply(closed.text(devices: ["m1", "m2"], local: "window_or_root"), origin: .local(uid: 1000))
        #expect(refused.status == .rejected && refused.reason == .notPermitted)
        #expect(closed.runningDevices == ["m1"] && closed.started.all.count == 1, "nothing was stopped")
        let byRoot = await closed.reloader.apply(closed.text(devices: ["m1", "m2"], local: "window_or_root"), origin: .rollback(uid: 0))
        #expect(byRoot.status == .applied)
        // A signed remote config and SIGHUP are not local applies.
        let remote = await closed.reloader.apply(closed.text(devices: ["m1", "m3"], local: "window_or_root"), origin: .remote(commandID: "c-1"))
        #expect(remote.status == .applied)

        let open = try await Rig(local: "window_or_root", windowOpen: true)
        #expect(await open.reloader.apply(open.text(devices: ["m1", "m2"]), origin: .local(uid: 1000)).status == .applied)
    }

    @Test func aFailingConfigBringsThePreviousOneBackAndTheFileToo() async throws {
        let rig = try await Rig()
        let before = rig.file
        let outcome = await rig.reloader.apply(rig.text(devices: ["m1", "nobody"]), origin: .local(uid: 0))
        #expect(outcome.status == .rolledBack && outcome.reason == .healthCheckFailed)
        #expect(outcome.message.contains("1 of 2 devices answering (2 needed)"), "\(outcome.message)")
        let started = rig.started.all
        #expect(started.map { $0.site.devices.map(\.id.rawValue) } == [["m1"], ["m1", "nobody"], ["m1"]])
        #expect(started[0].stopped.withLock { $0 } && started[1].stopped.withLock { $0 } && !started[2].stopped.withLock { $0 })
        #expect(rig.file == before)
        #expect(rig.reloader.history.entries().map(\.outcome) == [.applied, .rolledBack])
        let events = try await rig.store.everything().map(\.payload)
        #expect(events.count == 1 && events[0].contains("\"type\":\"config.rolled_back\""), "\(events)")
    }

    @Test func invalidUnchangedAndStoreChangesStopNothing() async throws {
        let rig = try await Rig()
        let invalid = await rig.reloader.apply("gateway: gw-1\nbuses: 7\n", origin: .remote(commandID: "c-9"))
        #expect(invalid.status == .rejected && invalid.reason == .invalidConfig)
        #expect(invalid.message.hasPrefix("remote config c-9:2:"), "\(invalid.message)")
        #expect(await rig.reloader.apply(rig.file, origin: .signal).status == .unchanged)
        let moved = rig.text(devices: ["m1"]).replacingOccurrences(of: "outbox.db", with: "other.db")
        let store = await rig.reloader.apply(moved, origin: .local(uid: 0))
        #expect(store.status == .rejected && store.reason == .needsRestart)
        #expect(rig.started.all.count == 1)
        #expect(!FileManager.default.fileExists(atPath: rig.path + ".candidate"))
    }

    /// A config file edited by hand that does not load, then SIGHUP: the running config goes back
    /// in the file (the next start must not fail on it), the edit into the history.
    @Test func aHandEditThatDoesNotLoadIsTakenOutOfTheFile() async throws {
        let rig = try await Rig()
        let running = rig.file
        try "gateway: gw-1\nbuses: 7\n".write(toFile: rig.path, atomically: true, encoding: .utf8)
        let outcome = await rig.reloader.reloadFromFile()
        #expect(outcome.status == .rejected && outcome.reason == .invalidConfig)
        #expect(outcome.message.hasPrefix(rig.path + ":2:"), "\(outcome.message)")
        #expect(rig.file == running)
        let kept = try #require(rig.reloader.history.entries().last)
        #expect(kept.outcome == .rejected && kept.origin == "signal")
        #expect(readTextFile(kept.path) == "gateway: gw-1\nbuses: 7\n")
        #expect(rig.started.all.count == 1, "nothing was stopped")
    }
}
