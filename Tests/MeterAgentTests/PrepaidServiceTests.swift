import Foundation
import MeterCore
import MeterDrivers
import MeterProtocols
import MeterTestSupport
import Synchronization
import Testing
@testable import MeterAgent
@testable import MeterStore

/// Local cost control with a real store and a stand-in meter: what is saved when, credits
/// committed with their results, restarts and `kill -9` between polls.
@Suite(.timeLimit(.minutes(1)))
struct PrepaidServiceTests {
    /// A meter whose relay always does what it is told (and says so in the read-back).
    final class FakeMeter: MeterDriver, Sendable {
        let device: DeviceConfig
        private let log = Mutex<[MeterCommand]>([])

        init(_ device: DeviceConfig) { self.device = device }

        var commands: [MeterCommand] { log.withLock { $0 } }

        func read(points: [PointName]?, now: () -> Int64) async -> [Reading] { [] }
        func unknownPoints(_ points: [PointName]) -> [PointName] { [] }
        func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
            log.withLock { $0.append(command) }
            guard case let .write(point, value) = command else { return CommandOutcome(device: device.id, command: command, status: .unsupported) }
            return CommandOutcome(device: device.id, command: command, status: .confirmed, message: "written",
                                  observed: [Reading(device: device.id, point: point, value: .bool(!value.isZero), unit: "",
                                                     timestampMs: now(), quality: .good, billing: false)])
        }
    }

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let t0: Int64 = 1_800_000_000_000

    let site: SiteConfig
    let meter: FakeMeter

    init() throws {
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            buses:
              - {id: rs485, type: serial, port: /dev/null}
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter,
                 cost_control: {mode: local, tariff: {flat: 1}, low_credit: 0.2, initial_balance: 0.5}}
              - {id: flat-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter}
            """, file: "site.yaml", profiles: profiles)
        meter = FakeMeter(site.devices[0])
    }

    func service(_ store: OutboxStore) -> PrepaidService {
        let meter = self.meter
        return PrepaidService(site: site, store: store, drivers: { $0 == meter.device.id ? meter : nil }, log: .silent,
                              localMs: { $0 }, now: { Self.t0 })
    }

    static func reading(_ value: String, at: Int64, device: String = "flat-1", quality: Quality = .good) -> Reading {
        Reading(device: DeviceID(device), point: PointName("energy.import.total"), value: .decimal(ExactDecimal(value)!), unit: "kWh",
                timestampMs: at, quality: quality, billing: true)
    }

    static func command(_ id: String, _ action: String, params: String) throws -> SignedCommand {
        try SignedCommand(payload: Array("{\"id\":\"\(id)\",\"gateway\":\"gw-7\",\"device\":\"flat-1\",\"action\":\"\(action)\",\"params\":\(params),\"issued_at\":1,\"expires_at\":2000000000}".utf8))
    }

    static func events(_ store: OutboxStore) async throws -> [[String: Any]] {
        try await store.everything().filter { $0.kind == .event }.compactMap { jsonObject($0.payload) }
    }

    @Test func runningOutCutsTheSupplyAndACreditRestoresItInOneCommit() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let prepaid = service(store)
        #expect(await prepaid.start())
        #expect(try await Self.events(store).map { $0["reason"] as? String } == ["initial"])

        await prepaid.observe([Self.reading("100", at: Self.t0)])
        // Readings of other points, other devices and bad ones are not charged.
        await prepaid.observe([Self.reading("0", at: Self.t0 + 500, device: "flat-2"), Self.reading("250", at: Self.t0 + 600, quality: .timeout)])
        await prepaid.observe([Self.reading("100.4", at: Self.t0 + 1000)])
        #expect(prepaid.account(DeviceID("flat-1"))?.lowCredit == true)
        #expect(meter.commands.isEmpty)
        await prepaid.observe([Self.reading("100.6", at: Self.t0 + 2000)])
        #expect(meter.commands == [.write(point: PointName("relay.state"), value: .zero)], "the profile's relay.open")
        #expect(prepaid.account(DeviceID("flat-1"))?.disconnected == true)
        let types = try await Self.events(store).map { ($0["type"] as? String ?? "") + ($0["alarm"].map { " \($0)" } ?? "") }
        #expect(types == ["credit.balance", "alarm.raised credit.low", "credit.disconnect"])

        // credit.add: the result, the balance and its events in one transaction; then the restore.
        let command = try Self.command("credit-1", "credit.add", params: "{\"amount\":2}")
        #expect(try await store.claimCommand(id: "credit-1", expiresAt: 2_000_000_000, receivedMs: Self.t0) == .fresh)
        let base = CommandResult(id: "credit-1", device: "flat-1", action: "credit.add", status: .done, reason: nil, message: "",
                                 receivedMs: Self.t0, startedMs: Self.t0, finishedMs: Self.t0)
        let (result, stored) = await prepaid.carryOut(command, .credit(ExactDecimal("2")!), result: base)
        #expect(stored)
        #expect(result.status == .done)
        #expect(result.json.contains("\"observed\":{\"credit.balance\":1.9}"), "\(result.json)")
        #expect(meter.commands.last == .write(point: PointName("relay.state"), value: .one), "the profile's relay.close")
        #expect(prepaid.account(DeviceID("flat-1"))?.disconnected == false)
        #expect(try await store.claimCommand(id: "credit-1", expiresAt: 2_000_000_000, receivedMs: Self.t0) == .seen(result: result.json))
        let records = try await store.everything()
        let resultIndex = try #require(records.firstIndex { $0.kind == .commandResult })
        #expect(jsonObject(records[resultIndex + 1].payload)?["reason"] as? String == "credit", "committed with its balance event")
        let after = try await Self.events(store).suffix(3).map { ($0["type"] as? String ?? "") + ($0["alarm"].map { " \($0)" } ?? "") }
        #expect(after == ["credit.balance", "alarm.cleared credit.low", "credit.reconnect"])
        await store.shutdown()

        // A restart reads the same account back.
        let reopened = try OutboxStore(path: dir.path("outbox.db"))
        let again = service(reopened)
        #expect(await again.start())
        #expect(again.account(DeviceID("flat-1"))?.balance.description == "1.9")
        #expect(again.account(DeviceID("flat-1"))?.reading?.description == "100.6")
        #expect(try await Self.events(reopened).filter { $0["reason"] as? String == "initial" }.count == 1, "opened once, ever")
        await reopened.shutdown()
    }

    @Test func aKillBetweenPollsNeitherChargesTwiceNorForgets() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        // The run that is not interrupted: readings every 10 s for 5 minutes.
        let readings = (0...30).map { Self.reading(String(100 + $0), at: Self.t0 + Int64($0) * 10_000) }
        let whole = try OutboxStore(path: dir.path("whole.db"))
        let uninterrupted = service(whole)
        await uninterrupted.start()
        for reading in readings { await uninterrupted.observe([reading]) }
        await whole.shutdown()

        // The same readings, with a `kill -9` (nothing flushed) after 25 s and after 3 minutes.
        for (from, to) in [(0, 2), (3, 18), (19, 30)] {
            let store = try OutboxStore(path: path)
            let prepaid = service(store)
            await prepaid.start()
            for reading in readings[from...to] { await prepaid.observe([reading]) }
            // No flush: the store closes as a killed process leaves it (committed transactions only).
            await store.shutdown()
        }
        let store = try OutboxStore(path: path)
        let restarted = service(store)
        await restarted.start()
        let balance = try #require(restarted.account(DeviceID("flat-1"))?.balance)
        let expected = try #require(uninterrupted.account(DeviceID("flat-1"))?.balance)
        // The last run's consumption since its last save is charged at its next reading (not
        // lost); up to that, every advance is in the balance exactly once.
        await restarted.observe([Self.reading("130", at: Self.t0 + 310_000)])
        #expect(restarted.account(DeviceID("flat-1"))?.balance.hasSameValue(as: expected) == true, "\(balance) → \(String(describing: restarted.account(DeviceID("flat-1"))?.balance)) vs \(expected)")
        await store.shutdown()
    }

    @Test func aTariffSetSurvivesARestart() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let prepaid = service(store)
        await prepaid.start()
        await prepaid.observe([Self.reading("10", at: Self.t0)])
        _ = try await store.claimCommand(id: "t-1", expiresAt: 2_000_000_000, receivedMs: Self.t0)
        let tariff = Tariff.flat(ExactDecimal("0.25")!)
        let base = CommandResult(id: "t-1", device: "flat-1", action: "tariff.set", status: .done, reason: nil, message: "",
                                 receivedMs: Self.t0, finishedMs: Self.t0)
        let (result, stored) = await prepaid.carryOut(try Self.command("t-1", "tariff.set", params: "{\"flat\":0.25}"), .tariff(tariff), result: base)
        #expect(stored && result.status == .done)
        let event = try #require(try await Self.events(store).last)
        #expect(event["reason"] as? String == "tariff")
        #expect((event["tariff"] as? [String: Any])?["flat"] as? Double == 0.25)
        await store.shutdown()

        let reopened = try OutboxStore(path: dir.path("outbox.db"))
        let again = service(reopened)
        await again.start()
        await again.observe([Self.reading("11", at: Self.t0 + 1000)])
        #expect(again.account(DeviceID("flat-1"))?.balance.description == "0.25", "0.5 − 1 kWh × 0.25")
        await reopened.shutdown()
    }

    @Test func aCreditIsRefusedAboveTheLargestBalanceAndNothingChanges() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let prepaid = service(store)
        await prepaid.start()
        _ = try await store.claimCommand(id: "big", expiresAt: 2_000_000_000, receivedMs: Self.t0)
        let base = CommandResult(id: "big", device: "flat-1", action: "credit.add", status: .done, reason: nil, message: "",
                                 receivedMs: Self.t0, finishedMs: Self.t0)
        let (result, stored) = await prepaid.carryOut(try Self.command("big", "credit.add", params: "{\"amount\":1000000}"),
                                                      .credit(ExactDecimal("1000000")!), result: base)
        #expect(stored)
        #expect(result.status == .rejected && result.reason == .badParams)
        #expect(prepaid.account(DeviceID("flat-1"))?.balance.description == "0.5")
        await store.shutdown()
    }

    /// A meter whose relay answers only when the test lets it (`release`, once per command).
    final class SlowMeter: MeterDriver, Sendable {
        let device: DeviceConfig
        let reached: AsyncStream<Void>, reaching: AsyncStream<Void>.Continuation
        let release: AsyncStream<Void>, releasing: AsyncStream<Void>.Continuation

        init(_ device: DeviceConfig) {
            self.device = device
            (reached, reaching) = AsyncStream.makeStream(of: Void.self)
            (release, releasing) = AsyncStream.makeStream(of: Void.self)
        }

        func read(points: [PointName]?, now: () -> Int64) async -> [Reading] { [] }
        func unknownPoints(_ points: [PointName]) -> [PointName] { [] }
        func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
            reaching.yield()
            for await _ in release { break }
            return CommandOutcome(device: device.id, command: command, status: .confirmed, message: "written")
        }
    }

    @Test func aCreditWaitsWhileAChargeOfTheSameDeviceCutsTheSupply() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let meter = SlowMeter(site.devices[0])
        let prepaid = PrepaidService(site: site, store: store, drivers: { $0 == meter.device.id ? meter : nil }, log: .silent,
                                     localMs: { $0 }, now: { Self.t0 })
        #expect(await prepaid.start())
        await prepaid.observe([Self.reading("100", at: Self.t0)])
        // 0.6 kWh at 1 takes the balance of 0.5 below zero: the cut holds the device until the meter answers.
        let charge = Task { await prepaid.observe([Self.reading("100.6", at: Self.t0 + 1000)]) }
        for await _ in meter.reached { break }
        let command = try Self.command("credit-1", "credit.add", params: "{\"amount\":2}")
        _ = try await store.claimCommand(id: "credit-1", expiresAt: 2_000_000_000, receivedMs: Self.t0)
        let base = CommandResult(id: "credit-1", device: "flat-1", action: "credit.add", status: .done, reason: nil, message: "",
                                 receivedMs: Self.t0, startedMs: Self.t0, finishedMs: Self.t0)
        let credit = Task { await prepaid.carryOut(command, .credit(ExactDecimal("2")!), result: base) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await store.everything().allSatisfy { $0.kind != .commandResult }, "the credit was applied during the cut")
        meter.releasing.yield()
        meter.releasing.yield()
        await charge.value
        let (result, stored) = await credit.value
        #expect(stored && result.json.contains("\"observed\":{\"credit.balance\":1.9}"), "charged, then credited: \(result.json)")
        #expect(prepaid.account(DeviceID("flat-1"))?.balance.description == "1.9")
        await store.shutdown()
    }
}
