import Foundation
import Testing

/// The outbox with the agent as a separate process: `kill -9` at random moments, a corrupt file at
/// start, and `meteragent buffer …` next to the running agent.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct StoreTests {
    static let scenario = """
    tcp:
      - id: plant
        port: 0
        devices:
          - {unit: 1, profile: eastron-sdm630, model: electricity}
          - {unit: 2, profile: generic-modbus-gas, model: gas}

    """

    static func site(tcpPort: Int, store: String) -> String {
        """
        gateway: gw-store
        store: {path: \(store), flush_interval: 100ms}
        buses:
          - {id: plant, type: tcp, host: 127.0.0.1, port: \(tcpPort), timeout_ms: 1000}
        devices:
          - {id: main, bus: plant, unit: 1, profile: eastron-sdm630, poll_interval: 100ms}
          - {id: gas, bus: plant, unit: 2, profile: generic-modbus-gas, poll_interval: 100ms}

        """
    }

    /// `stored seq=FIRST..LAST` lines of the agent's debug log.
    static func reportedRanges(_ stderr: String) -> [ClosedRange<UInt64>] {
        stderr.split(separator: "\n").compactMap { line in
            guard let start = line.range(of: "stored seq=") else { return nil }
            let text = line[start.upperBound...].prefix { $0 != " " }
            let bounds = text.split(separator: ".", omittingEmptySubsequences: true)
            guard bounds.count == 2, let first = UInt64(bounds[0]), let last = UInt64(bounds[1]), first <= last else { return nil }
            return first...last
        }
    }

    /// Every record of the store, through `meteragent buffer export`. Written to a file rather than
    /// read from a pipe: a large export can outlast the harness's short drain after exit.
    static func exportedRecords(_ store: String) throws -> [[String: Any]] {
        let file = store + ".export.jsonl"
        let result = try runCommand("/bin/sh", ["-c", "exec \"$0\" buffer export --store \"$1\" --since 0 > \"$2\"",
                                                Paths.meteragent, store, file])
        #expect(result.status == 0, "buffer export: \(result.stderr)")
        defer { try? FileManager.default.removeItem(atPath: file) }
        return jsonLines(try String(contentsOfFile: file, encoding: .utf8))
    }

    static func exportedSeqs(_ store: String) throws -> [UInt64] {
        try exportedRecords(store).compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
    }

    /// The simulated plant, and a site for it whose store is in a directory of its own.
    struct Plant {
        let sim: Simulator
        let dir: URL
        let store: String
        let site: String

        init() throws {
            sim = try Simulator(scenario: StoreTests.scenario)
            dir = try Paths.temporaryDirectory()
            store = dir.appendingPathComponent("outbox.db").path
            // A failure here stops the simulator all the same (Simulator stops itself in deinit).
            let port = try #require(sim.tcpPorts.first)
            site = try writeSite(StoreTests.site(tcpPort: port, store: store), in: dir)
        }

        func remove() {
            sim.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func everyRecordReportedStoredSurvivesKillNine() throws {
        let plant = try Plant()
        defer { plant.remove() }
        let (site, store) = (plant.site, plant.store)

        var generator = SystemRandomNumberGenerator()
        var reported: [[ClosedRange<UInt64>]] = []
        let started = Date()
        for _ in 0..<20 {
            let agent = try ChildProcess(Paths.meteragent, ["run", site, "--verbose"])
            // Kill during ingest: once the store is open and polling has begun, at a random moment.
            let deadline = Date().addingTimeInterval(10)
            while !agent.stderr.contains("polling") && agent.process.isRunning && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: Double(Int.random(in: 100...800, using: &generator)) / 1000)
            agent.stop(signal: SIGKILL)
            #expect(agent.process.terminationReason == .uncaughtSignal)
            reported.append(Self.reportedRanges(agent.stderr))
        }
        #expect(Date().timeIntervalSince(started) < 55, "the kill -9 loop must stay within a minute")

        let runsThatStored = reported.filter { !$0.isEmpty }.count
        #expect(runsThatStored >= 10, "only \(runsThatStored) of 20 runs reported a stored batch")
        // Sequence numbers strictly increase, within a run and across restarts.
        let flat = reported.flatMap { $0 }
        for (a, b) in zip(flat, flat.dropFirst()) {
            #expect(a.upperBound < b.lowerBound, "\(a) then \(b)")
        }
        // Every number ever reported stored is still in the store.
        let exported = Set(try Self.exportedSeqs(store))
        let missing = flat.flatMap { Array($0) }.filter { !exported.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) reported seqs missing after kill -9, first \(missing.prefix(10))")
        #expect(!exported.isEmpty)
    }

    /// SIGTERM in the middle of back-to-back polling: each run ends with exit code 0 after
    /// committing what it had queued — every reading it printed (`--stdout` prints a reading as it
    /// is queued) is in the store — and the store holds one unbroken run of sequence numbers.
    @Test func sigtermDuringBusyPollingLosesNoRecord() throws {
        let plant = try Plant()
        defer { plant.remove() }
        var generator = SystemRandomNumberGenerator()
        var reported: [ClosedRange<UInt64>] = []
        var printed = 0
        for _ in 0..<5 {
            let agent = try ChildProcess(Paths.meteragent, ["run", plant.site, "--verbose", "--stdout", "--poll-interval-ms", "0"])
            let deadline = Date().addingTimeInterval(10)
            while !agent.stderr.contains("stored seq=") && agent.process.isRunning && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: Double(Int.random(in: 50...400, using: &generator)) / 1000)
            kill(agent.pid, SIGTERM)
            #expect(agent.wait(timeout: 20) == 0, "\(agent.stderr.suffix(1500))")
            reported += Self.reportedRanges(agent.stderr)
            printed += jsonLines(agent.stdout).filter { $0["point"] != nil }.count
        }
        let records = try Self.exportedRecords(plant.store)
        #expect(records.filter { $0["kind"] as? String == "reading" }.count == printed, "readings queued but not stored")
        let exported = records.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
        let first = try #require(exported.first), last = try #require(exported.last)
        #expect(exported == Array(first...last), "a gap in the stored sequence numbers")
        let missing = reported.flatMap { Array($0) }.filter { !(first...last).contains($0) }
        #expect(missing.isEmpty, "reported stored but missing: \(missing.prefix(10))")
        #expect(reported.last?.upperBound == last, "the last run's final commit is not the store's last record")
    }

    /// `kill -9` seen from the head-end: the broker publishes the agent's last will, the retained
    /// `offline` status (reason `connection_lost`), and a restarted agent says `online` again.
    @Test func killNineLeavesTheLastWillOfflineAndARestartIsOnlineAgain() throws {
        let plant = try Plant()
        defer { plant.remove() }
        let broker = try Broker()
        defer { broker.remove() }
        let port = try #require(plant.sim.tcpPorts.first)
        let site = try writeSite(Self.site(tcpPort: port, store: plant.store) + """
            mqtt: {host: 127.0.0.1, port: \(broker.port), reconnect: {min_ms: 200, max_ms: 1000}}

            """, in: plant.dir, name: "site-mqtt.yaml")
        let topic = "meteragent/gw-store/status"
        let sub = try Subscriber(broker: broker, topic: topic)
        defer { sub.stop() }
        func states() -> [[String: Any]] {
            sub.messages.filter { $0.topic == topic }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.payload.utf8))) as? [String: Any]
            }
        }
        /// The status the broker keeps for a subscriber that comes later.
        func retained() throws -> String {
            try runCommand("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", String(broker.port), "-t", topic,
                                                      "-C", "1", "-W", "5"]).stdout
        }

        let agent = try ChildProcess(Paths.meteragent, ["run", site, "--verbose"])
        try sub.wait("the agent's online status") { _ in states().last?["state"] as? String == "online" }
        agent.stop(signal: SIGKILL)
        #expect(agent.process.terminationReason == .uncaughtSignal)
        try sub.wait("the last will after kill -9") { _ in states().last?["state"] as? String == "offline" }
        #expect(states().last?["reason"] as? String == "connection_lost", "\(states())")
        let afterKill = try retained()
        #expect(afterKill.contains("\"state\":\"offline\"") && afterKill.contains("\"reason\":\"connection_lost\""),
                "retained status after kill -9: \(afterKill)")

        let restarted = try ChildProcess(Paths.meteragent, ["run", site, "--verbose"])
        defer { restarted.stop() }
        try sub.wait("online again after the restart") { _ in
            states().filter { $0["state"] as? String == "online" }.count == 2 && states().last?["state"] as? String == "online"
        }
        let afterRestart = try retained()
        #expect(afterRestart.contains("\"state\":\"online\""), "retained status after the restart: \(afterRestart)")
        #expect(states().map { $0["state"] as? String ?? "?" } == ["online", "offline", "online"], "\(states())")
    }

    @Test func aCorruptStoreIsMovedAsideAndTheAgentKeepsStoring() throws {
        let plant = try Plant()
        defer { plant.remove() }
        let (site, store) = (plant.site, plant.store)
        try Data(repeating: 0xA5, count: 8192).write(to: URL(fileURLWithPath: store))

        let result = try runCommand(Paths.meteragent, ["run", site, "--duration", "1.5"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("moved it to \(store).corrupt-"), "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: plant.dir.path)
        #expect(files.contains { $0.hasPrefix("outbox.db.corrupt-") })

        let records = try Self.exportedRecords(store)
        #expect(records.first?["type"] as? String == "store.recovered")
        #expect(records.contains { $0["kind"] as? String == "reading" })
    }

    @Test func anUnreadStdoutHoldsNeitherTheLogNorTheStop() throws {
        let plant = try Plant()
        defer { plant.remove() }
        let (site, store) = (plant.site, plant.store)

        // stdout is a pipe nobody reads (a stalled journald); stderr a file.
        let unread = Pipe()
        let logFile = plant.dir.appendingPathComponent("agent.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: Paths.meteragent)
        agent.arguments = ["run", site, "--poll-interval-ms", "0", "--control-socket", try Paths.controlSocket()]
        agent.standardOutput = unread
        agent.standardError = try FileHandle(forWritingTo: logFile)
        agent.standardInput = FileHandle.nullDevice
        try agent.run()
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
        // Polled back to back, the readings fill the pipe (64 kB) within the first second.
        Thread.sleep(forTimeInterval: 3)
        #expect(agent.isRunning)
        kill(agent.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while agent.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!agent.isRunning, "the agent did not stop while its stdout was not read")
        if !agent.isRunning { #expect(agent.terminationStatus == 0) }
        let log = try String(contentsOf: logFile, encoding: .utf8)
        #expect(log.contains("stopping") && log.contains("stopped"), "\(log)")
        // Each reading's line is over 100 bytes: more than an unread pipe holds was printed.
        let stored = try Self.exportedSeqs(store)
        #expect(stored.count >= 1000, "\(stored.count) readings stored")
    }

    @Test func bufferCommandsWorkWhileTheAgentWrites() throws {
        let plant = try Plant()
        defer { plant.remove() }
        let (site, store) = (plant.site, plant.store)

        let agent = try ChildProcess(Paths.meteragent, ["run", site])
        defer { agent.stop() }
        try agent.waitForLine { $0.contains("\"device\":\"gas\"") }
        Thread.sleep(forTimeInterval: 0.5)
        let stats = try runCommand(Paths.meteragent, ["buffer", "stats", site, "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let object = try #require(jsonLines(stats.stdout).first)
        let records = try #require(object["records"] as? Int)
        #expect(records > 0)
        #expect((object["classes"] as? [String: Any])?.count == 3)

        let peek = try runCommand(Paths.meteragent, ["buffer", "peek", "5", site])
        #expect(jsonLines(peek.stdout).map { $0["seq"] as? Int } == [1, 2, 3, 4, 5])
        Thread.sleep(forTimeInterval: 0.3)
        let later = try Self.exportedSeqs(store)
        #expect(later.count >= records)
        #expect(later == Array(1...UInt64(later.count)), "nothing was deleted, so the store holds 1...n")

        // SIGTERM commits what is queued: every reading printed on stdout is in the store.
        agent.stop()
        Thread.sleep(forTimeInterval: 0.2)  // let the pipe handlers drain
        let printed = jsonLines(agent.stdout).count
        let final = try Self.exportedSeqs(store)
        #expect(final.count >= printed, "\(printed) readings printed, \(final.count) stored; agent log: \(agent.stderr.suffix(1500))")
        #expect(agent.stderr.contains("stopped"))
    }
}
