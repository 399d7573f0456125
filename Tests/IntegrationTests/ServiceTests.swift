import Foundation
import MeterCore
import Synchronization
import Testing

/// Issue 13, "Run as a service": `meteragent run` under systemd's notify protocol (a datagram
/// socket this test binds stands in for systemd), the watchdog that stops being petted while the
/// store cannot commit, `make install`/`make uninstall` into a DESTDIR with the unit verified by
/// `systemd-analyze`, and the boards' example site configs.
/// (SIGTERM during a busy poll loses no stored record: `StoreTests.sigtermDuringBusyPollingLosesNoRecord`;
/// SIGHUP reloads: `ConfigApplyTests`.)
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServiceTests {
    /// The plant of `StoreTests` with short bus timeouts, so that the watchdog's stall limit is the
    /// watchdog's own timeout (1 s) rather than the time a dead meter's retries may take.
    static func site(tcpPort: Int, store: String) -> String {
        """
        gateway: gw-service
        store: {path: \(store), flush_interval: 100ms}
        buses:
          - {id: plant, type: tcp, host: 127.0.0.1, port: \(tcpPort), timeout_ms: 100, retries: 0}
        devices:
          - {id: main, bus: plant, unit: 1, profile: eastron-sdm630, poll_interval: 100ms}
          - {id: gas, bus: plant, unit: 2, profile: generic-modbus-gas, poll_interval: 100ms}

        """
    }

    static let watchdogUsec = 1_000_000

    /// Another process (Python's sqlite3) holds the store's write lock for `seconds`, then prints
    /// `released`; returns once it holds the lock.
    static func lockStore(_ path: String, seconds: Double) throws -> ChildProcess {
        let locker = try ChildProcess("/usr/bin/python3", ["-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('BEGIN EXCLUSIVE')
            print('locked', flush=True)
            time.sleep(float(sys.argv[2]))
            c.execute('COMMIT')
            print('released', flush=True)
            """, path, String(seconds)])
        try locker.waitForLine { $0 == "locked" }
        return locker
    }

    /// This suite's site for the plant, written beside its store.
    static func site(for plant: StoreTests.Plant) throws -> String {
        let port = try #require(plant.sim.tcpPorts.first)
        return try writeSite(Self.site(tcpPort: port, store: plant.store), in: plant.dir, name: "site-service.yaml")
    }

    /// The plant, a notify socket standing in for systemd, and an agent that talks to it.
    final class Watched {
        let plant: StoreTests.Plant
        let socket: NotifySocket
        let agent: ChildProcess

        init() throws {
            plant = try StoreTests.Plant()
            socket = try NotifySocket(directory: plant.dir)
            agent = try ChildProcess(Paths.meteragent, ["run", try ServiceTests.site(for: plant)],
                                     environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": String(ServiceTests.watchdogUsec)])
        }

        func remove() {
            agent.stop(signal: SIGKILL)
            socket.close()
            plant.remove()
        }
    }

    @Test func readyWatchdogAndStoppingReachTheNotifySocket() throws {
        let watched = try Watched()
        defer { watched.remove() }
        let (socket, agent) = (watched.socket, watched.agent)

        try socket.wait(timeout: 15) { $0.contains { $0.text.contains("READY=1") } }
        let ready = try #require(socket.messages.first { $0.text.contains("READY=1") })
        #expect(ready.text.contains("STATUS=polling 2 devices on 1 buses"), "\(ready.text)")
        // Every half WATCHDOG_USEC while polls complete and the store commits.
        Thread.sleep(forTimeInterval: 3)
        let pets = socket.messages.filter { $0.text == "WATCHDOG=1" }
        #expect((4...8).contains(pets.count), "\(pets.count) pets in 3 s at 0.5 s; \(socket.messages.map(\.text))")
        #expect(pets.allSatisfy { $0.at > ready.at }, "no pet before READY=1")
        #expect(agent.stderr.contains("systemd watchdog on"), "\(agent.stderr)")

        kill(agent.pid, SIGTERM)
        #expect(agent.wait(timeout: 20) == 0, "\(agent.stderr.suffix(1500))")
        let stopping = try #require(socket.messages.first { $0.text.contains("STOPPING=1") }, "\(socket.messages.map(\.text))")
        #expect(stopping.text.contains("STATUS=stopping (signal 15)"))
        #expect(socket.messages.filter { $0.at > stopping.at }.allSatisfy { $0.text != "WATCHDOG=1" }, "no pet after STOPPING=1")
        #expect(agent.stderr.contains("stopped"))
    }

    /// A real stall: another process holds the store's write lock (a `sqlite3` shell left in a
    /// transaction, a stuck backup), and the store's thread sits in SQLite's busy wait (5 s) while
    /// readings keep arriving. The agent stops petting (systemd would kill and restart it) and says
    /// why; once the store answers again — with an error, then with commits — it pets again.
    @Test func anAgentWhoseStoreDoesNotAnswerStopsPettingTheWatchdog() throws {
        let watched = try Watched()
        defer { watched.remove() }
        let (plant, socket, agent) = (watched.plant, watched.socket, watched.agent)
        try socket.wait(timeout: 15) { $0.filter { $0.text == "WATCHDOG=1" }.count >= 2 }

        let lockSeconds = 6.0
        let locker = try Self.lockStore(plant.store, seconds: lockSeconds)
        defer { locker.stop(signal: SIGKILL) }
        let lockedAt = Date()
        try locker.waitForLine(timeout: lockSeconds + 10) { $0 == "released" }
        let releasedAt = Date()
        // Petting resumes after the queued readings commit (the agent's busy wait ends with the lock).
        try socket.wait(timeout: 10) { $0.contains { $0.text == "WATCHDOG=1" && $0.at > releasedAt } }

        let stalled = try #require(socket.messages.first { $0.text.hasPrefix("STATUS=stalled: no answer from the store") },
                                   "\(socket.messages.map(\.text)); agent: \(agent.stderr.suffix(2000))")
        #expect(stalled.at > lockedAt)
        // Inside the first busy wait (it starts within a flush interval of the lock and lasts 5 s).
        let petsWhileLocked = socket.messages.filter { $0.text == "WATCHDOG=1" && $0.at > lockedAt.addingTimeInterval(2.5)
            && $0.at < lockedAt.addingTimeInterval(4.5) }
        #expect(petsWhileLocked.isEmpty, "petted at \(petsWhileLocked.map { $0.at.timeIntervalSince(lockedAt) }) s into the lock")
        #expect(socket.messages.contains { $0.text == "STATUS=polling" && $0.at > stalled.at }, "\(socket.messages.map(\.text))")
        #expect(agent.stderr.contains("not petting the watchdog"), "\(agent.stderr.suffix(2000))")

        // Nothing was lost: every reading printed on stdout is in the store after a SIGTERM.
        kill(agent.pid, SIGTERM)
        #expect(agent.wait(timeout: 20) == 0)
        let printed = jsonLines(agent.stdout).count
        let stored = try StoreTests.exportedSeqs(plant.store)
        #expect(stored.count >= printed, "\(printed) printed, \(stored.count) stored")
        #expect(stored == Array(1...UInt64(stored.count)))
    }

    /// The stop is bounded: with the store locked by another process, the last commit would wait
    /// out SQLite's busy timeout (5 s); --stop-timeout 1 ends the process after one second, exit 6.
    @Test func aStopThatHangsEndsAtTheStopTimeout() throws {
        let plant = try StoreTests.Plant()
        defer { plant.remove() }
        let site = try Self.site(for: plant)
        let agent = try ChildProcess(Paths.meteragent, ["run", site, "--stop-timeout", "1"])
        defer { agent.stop(signal: SIGKILL) }
        try agent.waitForLine { $0.contains("\"device\":\"gas\"") }
        let locker = try Self.lockStore(plant.store, seconds: 15)
        defer { locker.stop(signal: SIGKILL) }
        Thread.sleep(forTimeInterval: 0.3)  // readings queue behind the lock
        let stopped = Date()
        kill(agent.pid, SIGTERM)
        let status = agent.wait(timeout: 10)
        let took = Date().timeIntervalSince(stopped)
        #expect(status == 6, "\(agent.stderr.suffix(1500))")
        #expect(took < 4, "took \(took) s")
        #expect(agent.stderr.contains("stop did not finish in time"), "\(agent.stderr.suffix(1500))")
    }

    @Test func withoutNotifySocketNothingIsSentAndRunWorksAsBefore() throws {
        let plant = try StoreTests.Plant()
        defer { plant.remove() }
        let port = try #require(plant.sim.tcpPorts.first)
        let site = try writeSite(Self.site(tcpPort: port, store: plant.store), in: plant.dir, name: "site-service.yaml")
        // WATCHDOG_USEC alone (no socket) turns nothing on.
        let agent = try ChildProcess(Paths.meteragent, ["run", site, "--duration", "1"], environment: ["WATCHDOG_USEC": "1000000"])
        #expect(agent.wait(timeout: 20) == 0, "\(agent.stderr)")
        #expect(!agent.stderr.contains("watchdog"), "\(agent.stderr)")
        #expect(!agent.stderr.contains("notify"), "\(agent.stderr)")
    }

    @Test func installAndUninstallIntoADestdir() throws {
        let dest = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dest) }
        let make = ["-C", Paths.repoRoot.path, "--no-print-directory", "DESTDIR=\(dest.path)", "BIN=\(Paths.meteragent)"]
        let install = try runCommand("/usr/bin/make", make + ["install"], timeout: 60)
        #expect(install.status == 0, "\(install.stdout)\(install.stderr)")

        let expected = ["usr/bin/meteragent", "usr/lib/systemd/system/meteragent.service", "usr/lib/sysusers.d/meteragent.conf",
                        "usr/lib/tmpfiles.d/meteragent.conf", "usr/lib/udev/rules.d/61-meteragent-rs485.rules", "etc/meteragent/site.yaml.example",
                        "usr/share/meteragent/profiles/eastron-sdm120.yaml", "usr/share/meteragent/boards/moxa-uc8100-site.yaml"]
        for file in expected {
            #expect(FileManager.default.fileExists(atPath: dest.appendingPathComponent(file).path), "\(file) not installed")
        }
        let profiles = try FileManager.default.contentsOfDirectory(atPath: dest.appendingPathComponent("usr/share/meteragent/profiles").path)
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Paths.repoRoot.appendingPathComponent("Hardware/profiles").path)
        #expect(Set(profiles) == Set(shipped.filter { $0.hasSuffix(".yaml") }))

        // The installed binary validates the installed example with the installed profiles.
        let bin = dest.appendingPathComponent("usr/bin/meteragent").path
        let validate = try runCommand(bin, ["config", "validate", dest.appendingPathComponent("etc/meteragent/site.yaml.example").path,
                                            "--profiles", dest.appendingPathComponent("usr/share/meteragent/profiles").path])
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")

        let unitText = try String(contentsOf: dest.appendingPathComponent("usr/lib/systemd/system/meteragent.service"), encoding: .utf8)
        #expect(unitText.contains("ExecStart=/usr/bin/meteragent run /etc/meteragent/site.yaml"))
        #expect(unitText.contains("Type=notify") && unitText.contains("WatchdogSec="))
        #expect(unitText.contains("ExecReload=/bin/kill -HUP $MAINPID") && unitText.contains("ReadWritePaths=/etc/meteragent"))
        let tmpfiles = try String(contentsOf: dest.appendingPathComponent("usr/lib/tmpfiles.d/meteragent.conf"), encoding: .utf8)
        #expect(tmpfiles.contains("d /etc/meteragent 0750 meteragent meteragent"))
        // systemd-analyze verify, with the binary and config where this DESTDIR has them.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let site = dest.appendingPathComponent("etc/meteragent/site.yaml")
            try FileManager.default.copyItem(at: dest.appendingPathComponent("etc/meteragent/site.yaml.example"), to: site)
            defer { try? FileManager.default.removeItem(at: site) }
            let checkDir = dest.appendingPathComponent("verify")
            try FileManager.default.createDirectory(at: checkDir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: checkDir) }
            let unit = checkDir.appendingPathComponent("meteragent.service")
            try unitText.replacingOccurrences(of: "/usr/bin/meteragent", with: bin)
                .replacingOccurrences(of: "/etc/meteragent", with: dest.appendingPathComponent("etc/meteragent").path)
                .write(to: unit, atomically: true, encoding: .utf8)
            let verify = try runCommand("/usr/bin/systemd-analyze", ["verify", "--man=no", unit.path])
            #expect(verify.status == 0, "systemd-analyze verify: \(verify.stdout)\(verify.stderr)")
            #expect(!verify.stderr.contains("meteragent.service:"), "warnings about the unit: \(verify.stderr)")
        }

        // A technician's config stays; everything install put there goes.
        let kept = dest.appendingPathComponent("etc/meteragent/site.yaml")
        try "gateway: kept\n".write(to: kept, atomically: true, encoding: .utf8)
        let uninstall = try runCommand("/usr/bin/make", make + ["uninstall"], timeout: 60)
        #expect(uninstall.status == 0, "\(uninstall.stdout)\(uninstall.stderr)")
        let left = FileManager.default.enumerator(atPath: dest.path)?.compactMap { $0 as? String }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: dest.appendingPathComponent($0).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        } ?? []
        #expect(left == ["etc/meteragent/site.yaml"], "left after uninstall: \(left)")
    }

    @Test(arguments: ["raspberry-pi-rs485-hat-site.yaml", "moxa-uc8100-site.yaml"])
    func boardExampleSitesValidate(_ name: String) throws {
        let file = Paths.repoRoot.appendingPathComponent("Hardware/boards/\(name)").path
        // From another directory: the config finds Hardware/profiles as ../profiles of its own.
        let result = try runCommand("/bin/sh", ["-c", "cd / && exec \"$0\" config validate \"$1\"", Paths.meteragent, file])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    /// No udevadm here (Debian's udev package is not installed; `udevadm verify` needs systemd 254):
    /// the rules are checked for what they promise — the three adapter families, every name under
    /// /dev/meteragent/rs485-, continued lines that end in a rule, and only keys udev knows.
    @Test func udevRulesNameTheThreeAdapterFamilies() throws {
        let text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("Hardware/udev/61-meteragent-rs485.rules"), encoding: .utf8)
        var rules: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && (trimmed.isEmpty || trimmed.hasPrefix("#")) { continue }
            if trimmed.hasSuffix("\\") { current += String(trimmed.dropLast()) + " "; continue }
            rules.append(current + trimmed)
            current = ""
        }
        #expect(current.isEmpty, "a continued line at the end")
        let known = ["ACTION", "SUBSYSTEM", "SUBSYSTEMS", "ATTRS", "ENV", "IMPORT", "SYMLINK", "GROUP", "MODE", "TAG", "GOTO", "LABEL"]
        for rule in rules {
            for pair in rule.split(separator: ",") {
                let key = pair.trimmingCharacters(in: .whitespaces).prefix { $0.isLetter }
                #expect(known.contains(String(key)), "unknown key in: \(rule)")
            }
        }
        let naming = rules.filter { $0.contains("SYMLINK") }
        #expect(naming.allSatisfy { $0.contains("SYMLINK+=\"meteragent/rs485-$env{") && $0.contains("GROUP=\"dialout\"") })
        for vendor in ["0403", "10c4", "1a86"] {
            #expect(naming.contains { $0.contains("ATTRS{idVendor}==\"\(vendor)\"") }, "no rule for vendor \(vendor)")
        }
        #expect(rules.first?.hasPrefix("ACTION==\"remove\", GOTO=") == true)
        #expect(rules.last == "LABEL=\"meteragent_rs485_end\"")
    }

    @Test func everyBoardExampleIsTested() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Paths.repoRoot.appendingPathComponent("Hardware/boards").path)
        #expect(Set(files.filter { $0.hasSuffix("-site.yaml") }) == ["raspberry-pi-rs485-hat-site.yaml", "moxa-uc8100-site.yaml"])
    }
}

/// A unix datagram socket in a test's directory, standing in for systemd's notify socket: every
/// datagram is kept with the time it arrived.
final class NotifySocket: Sendable {
    struct Message: Sendable {
        let text: String
        let at: Date
    }

    let path: String
    private let fd: Int32
    private let state = Mutex<(messages: [Message], closed: Bool)>(([], false))

    init(directory: URL) throws {
        path = directory.appendingPathComponent("notify").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw HarnessError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind \(path): \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try DedicatedThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !state.withLock({ $0.closed }) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { continue }
                let message = Message(text: String(decoding: buffer[..<n], as: UTF8.self), at: Date())
                state.withLock { $0.messages.append(message) }
            }
            Glibc.close(fd)
        }
    }

    var messages: [Message] { state.withLock { $0.messages } }

    func wait(timeout: Double, until predicate: ([Message]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !predicate(messages) {
            guard Date() < deadline else { throw HarnessError("notify socket: timed out; got \(messages.map(\.text))") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func close() { state.withLock { $0.closed = true } }
}
