import Foundation
import Testing

/// Simulated meters → `meteragent run` (store + MQTT uplink) → a real mosquitto on 127.0.0.1 →
/// `mosquitto_sub`, all as separate processes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct UplinkTests {
    static let gateway = "gw-up"
    static let prefix = "meteragent/gw-up"

    /// Simulator, temporary directory and site file for one test.
    final class Rig {
        let sim: Simulator
        let dir: URL

        init() throws {
            sim = try Simulator(scenario: SimulatedMeterTests.scenario)
            dir = try Paths.temporaryDirectory()
        }

        /// A site with four meters polled every second, its store in the test's directory, and
        /// the given `mqtt:` section.
        func site(mqtt: String) throws -> String {
            let pty = try #require(sim.lines["rs485"])
            let port = try #require(sim.tcpPorts.first)
            return try writeSite("""
            gateway: \(UplinkTests.gateway)
            buses:
              - {id: rs485, type: serial, port: \(pty), baud: 9600, parity: none, timeout_ms: 400, retries: 0}
              - {id: plant, type: tcp, host: 127.0.0.1, port: \(port), timeout_ms: 1000}
            devices:
              - {id: elec-1, bus: rs485, unit: 1, profile: eastron-sdm120, poll_interval: 1s}
              - {id: water, bus: rs485, unit: 10, profile: tuf2000m-water, poll_interval: 1s}
              - {id: gas, bus: rs485, unit: 20, profile: generic-modbus-gas, poll_interval: 1s}
              - {id: main, bus: plant, unit: 1, profile: eastron-sdm630, poll_interval: 1s}
            store: {path: \(dir.path)/outbox.db, flush_interval: 200ms}
            \(mqtt)
            """, in: dir)
        }

        func startAgent(_ site: String) throws -> ChildProcess {
            try ChildProcess(Paths.meteragent, ["run", site, "--verbose"])
        }

        func stop() {
            sim.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func mqtt(port: Int, extra: String = "") -> String {
        """
        mqtt:
          host: 127.0.0.1
          port: \(port)
          max_payload_bytes: 2048
          reconnect: {min_ms: 200, max_ms: 1000}
          publish_timeout_ms: 3000
        \(extra)
        """
    }

    /// The highest sequence number the agent has reported stored (`stored seq=A..B` at debug level).
    static func storedMax(_ agent: ChildProcess) -> Int {
        agent.stderr.split(separator: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "stored seq=") else { return nil }
            let text = line[range.upperBound...].split(separator: " ").first ?? ""
            return Int(text.split(separator: ".").last ?? "")
        }.max() ?? 0
    }

    static func waitFor(_ what: String, timeout: Double = 20, _ done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if done() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for \(what)")
    }

    /// Sequence numbers of the reading records received, in arrival order.
    static func seqs(_ sub: Subscriber) -> [Int] {
        sub.records(on: prefix + "/readings").compactMap { $0["seq"] as? Int }
    }

    /// Checks a batch's envelope against its records and the byte bound.
    static func checkBatches(_ sub: Subscriber, maxBytes: Int = 2048) {
        for message in sub.messages where message.topic == prefix + "/readings" {
            #expect(message.payload.utf8.count <= maxBytes, "batch of \(message.payload.utf8.count) bytes")
            guard let batch = (try? JSONSerialization.jsonObject(with: Data(message.payload.utf8))) as? [String: Any],
                  let items = batch["readings"] as? [[String: Any]] else {
                Issue.record("not a readings batch: \(message.payload.prefix(200))")
                continue
            }
            #expect(batch["gateway"] as? String == gateway)
            let seqs = items.compactMap { $0["seq"] as? Int }
            #expect(seqs.count == items.count && !seqs.isEmpty)
            #expect(batch["first_seq"] as? Int == seqs.first && batch["last_seq"] as? Int == seqs.last)
        }
    }

    @Test func readingsArriveOnTheBrokerOnceEachInOrderWithTheSimulatorsValues() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let broker = try Broker()
        defer { broker.remove() }
        // Exactly representable pins, so both ends must agree to the digit.
        for (line, unit, point, value) in [("rs485", 1, "voltage.l1", "231.5"), ("rs485", 10, "volume.total", "4711"),
                                           ("rs485", 20, "volume.total", "98765.432"), ("plant", 1, "current.l2", "12.5")] {
            #expect(try rig.sim.control("set \(line) \(unit) \(point) \(value)").contains("ok"))
        }
        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/#")
        defer { sub.stop() }
        let agent = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port)))
        try sub.wait("three poll cycles of readings") { Self.seqs($0).count >= 60 }
        // Downward topics are subscribed: a command reaches the agent, which answers it on cmd/result.
        let sent = try runCommand("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1",
                                                            "-t", Self.prefix + "/cmd", "-m", "{\"key\":\"k1\"}"])
        #expect(sent.status == 0, "\(sent.stderr)")
        try sub.wait(timeout: 10, "the command's result") { sub in
            sub.records(on: Self.prefix + "/cmd/result", key: "results").contains { $0["reason"] as? String == "malformed" }
        }
        agent.stop()
        #expect(agent.process.terminationStatus == 0, "\(agent.stderr.suffix(3000))")
        sub.stop()

        let seqs = Self.seqs(sub)
        // A fresh store numbers from 1; a run without outages sends each number exactly once, in order.
        #expect(seqs == Array(1...(seqs.last ?? 0)), "\(seqs)")
        #expect(seqs.last ?? 0 <= Self.storedMax(agent))
        Self.checkBatches(sub)
        #expect(sub.batches(on: Self.prefix + "/readings").count >= 3)

        let readings = sub.records(on: Self.prefix + "/readings")
        func values(_ device: String, _ point: String) -> [String] {
            readings.filter { $0["device"] as? String == device && $0["point"] as? String == point && $0["quality"] as? String == "good" }
                .map { "\($0["value"]!)" }
        }
        #expect(!values("elec-1", "voltage.l1").isEmpty && values("elec-1", "voltage.l1").allSatisfy { $0 == "231.5" })
        #expect(!values("water", "volume.total").isEmpty && values("water", "volume.total").allSatisfy { $0 == "4711" })
        #expect(!values("main", "current.l2").isEmpty && values("main", "current.l2").allSatisfy { $0 == "12.5" })
        // The billing register's exact decimal in the payload text itself, not only after parsing.
        let raw = sub.messages.filter { $0.topic == Self.prefix + "/readings" }.map(\.payload).joined()
        #expect(raw.contains("\"point\":\"volume.total\",\"value\":98765.432,"), "\(raw.prefix(3000))")

        // Retained status: online after connecting, offline (clean shutdown) at the end.
        let status = sub.messages.filter { $0.topic == Self.prefix + "/status" }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.payload.utf8))) as? [String: Any]
        }
        #expect(status.first?["state"] as? String == "online")
        #expect(status.first?["version"] as? String != nil && status.first?["since"] as? Int != nil)
        #expect(status.last?["state"] as? String == "offline" && status.last?["reason"] as? String == "shutdown")
        let retained = try runCommand("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", String(broker.port), "-t", Self.prefix + "/status",
                                                                "-C", "1", "-W", "5"])
        #expect(retained.stdout.contains("\"state\":\"offline\""), "retained status: \(retained.stdout) \(retained.stderr)")
    }

    /// libmosquitto, with the libssl and libcrypto it links (~1.7 MB resident), is loaded only by a
    /// site that forwards.
    @Test func libmosquittoIsLoadedOnlyWhenTheSiteForwards() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let broker = try Broker()
        defer { broker.remove() }
        /// The agent's memory map, read to the end (a /proc file reports no size).
        func mapped(_ agent: ChildProcess) throws -> String {
            let file = try #require(FileHandle(forReadingAtPath: "/proc/\(agent.pid)/maps"))
            defer { try? file.close() }
            let text = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
            #expect(text.contains("meteragent"), "the map lists the agent's own binary")
            return text
        }

        let storing = try rig.startAgent(try rig.site(mqtt: ""))
        try storing.waitForLine { $0.hasPrefix("{") }
        #expect(try !mapped(storing).contains("libmosquitto"), "a site without mqtt never opens libmosquitto")
        #expect(try !mapped(storing).contains("libcrypto"))
        storing.stop()

        let forwarding = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port)))
        defer { forwarding.stop() }
        let deadline = Date().addingTimeInterval(15)
        while !forwarding.stderr.contains("mqtt connected") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(forwarding.stderr.contains("mqtt connected"))
        #expect(try mapped(forwarding).contains("libmosquitto"))
    }

    @Test func brokerDownForAWhileLeavesNoGapAndKeepsOrder() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let broker = try Broker()
        defer { broker.remove() }
        // A persistent session: what the broker accepts while this subscriber reconnects waits for it.
        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/readings")
        defer { sub.stop() }
        let agent = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port)))
        defer { agent.stop() }
        try sub.wait("readings before the outage") { Self.seqs($0).count >= 20 }

        broker.stop()
        let storedAtOutage = Self.storedMax(agent)
        // The agent keeps polling and storing while the broker is away.
        try Self.waitFor("readings stored during the outage", timeout: 15) { Self.storedMax(agent) >= storedAtOutage + 80 }
        #expect(agent.process.isRunning)
        let storedDuringOutage = Self.storedMax(agent)
        try broker.start()

        try sub.wait(timeout: 30, "everything stored during the outage") { (Self.seqs($0).max() ?? 0) >= storedDuringOutage + 20 }
        agent.stop()
        sub.stop()

        let seqs = Self.seqs(sub)
        // At least once: a batch whose PUBACK was lost in the outage may come twice; first
        // arrivals must still be 1, 2, 3, … with nothing missing.
        var seen = Set<Int>()
        let firstArrivals = seqs.filter { seen.insert($0).inserted }
        #expect(firstArrivals == Array(1...(firstArrivals.last ?? 0)), "\(firstArrivals)")
        #expect(firstArrivals.last ?? 0 >= storedDuringOutage)
        Self.checkBatches(sub)
        let log = agent.stderr
        #expect(log.contains("mqtt connection lost"), "\(log.suffix(3000))")
        #expect(log.components(separatedBy: "mqtt connected").count - 1 >= 2, "\(log.suffix(3000))")
    }

    /// The agent against a broker it cannot use: it must say why in one clear line, keep retrying
    /// with back-off, keep storing readings, stop cleanly, and never log the password.
    func expectBadBroker(mqtt: String, rig: Rig, secret: String? = nil, expect: [String]) throws {
        let agent = try rig.startAgent(try rig.site(mqtt: mqtt))
        defer { agent.stop() }
        try Self.waitFor("three failed connection attempts", timeout: 20) {
            agent.stderr.components(separatedBy: "mqtt connect failed").count - 1 >= 3
        }
        #expect(agent.process.isRunning, "agent exited: \(agent.stderr.suffix(2000))")
        #expect(Self.storedMax(agent) > 0, "readings must be stored while the broker is unusable")
        agent.stop()
        #expect(agent.process.terminationStatus == 0, "\(agent.stderr.suffix(2000))")
        let log = agent.stderr
        let failures = log.split(separator: "\n").filter { $0.contains("mqtt connect failed") }
        for text in expect {
            #expect(failures.first?.localizedCaseInsensitiveContains(text) == true, "'\(text)' not in: \(failures.first ?? "")")
        }
        // Back-off: waits grow from 100–200 ms towards the 1 s cap.
        let waits = failures.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("retry_in_ms=") }.flatMap { Int($0.dropFirst("retry_in_ms=".count)) }
        }
        #expect(waits.count >= 3 && waits.allSatisfy { $0 >= 100 && $0 <= 1000 }, "\(waits)")
        #expect(waits.count >= 3 && waits[2] >= 400, "\(waits)")
        if let secret {
            #expect(!log.contains(secret), "password in the log")
            #expect(!agent.stdout.contains(secret))
        }
    }

    /// `kill -9` 20 times at random moments while the agent ingests and publishes: every sequence
    /// number it ever reported stored reaches the subscriber in the end (duplicates allowed, gaps not).
    @Test func everySeqReportedStoredArrivesAcrossTwentyKillNines() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let broker = try Broker()
        defer { broker.remove() }
        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/readings")
        defer { sub.stop() }
        let site = try rig.site(mqtt: Self.mqtt(port: broker.port))
        var reported: [ClosedRange<UInt64>] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let agent = try rig.startAgent(site)
            try Self.waitFor("the agent to start polling", timeout: 10) { agent.stderr.contains("polling") }
            Thread.sleep(forTimeInterval: Double(Int.random(in: 300...1500, using: &generator)) / 1000)
            agent.stop(signal: SIGKILL)
            #expect(agent.process.terminationReason == .uncaughtSignal)
            reported += StoreTests.reportedRanges(agent.stderr)
        }
        let expected = Set(reported.flatMap { Array($0) }.map(Int.init))
        #expect(expected.count >= 20, "the runs reported only \(expected.count) stored readings")
        // One last run drains the outbox; what was reported stored before any kill must arrive.
        let last = try rig.startAgent(site)
        try sub.wait(timeout: 60, "every reported seq") { sub in expected.isSubset(of: Set(Self.seqs(sub))) }
        last.stop()
        let arrived = Set(Self.seqs(sub))
        let missing = expected.subtracting(arrived).sorted()
        #expect(missing.isEmpty, "\(missing.count) reported seqs never arrived, first \(missing.prefix(10))")
    }

    @Test func unknownHostIsReportedAndRetried() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let mqtt = Self.mqtt(port: 1883).replacingOccurrences(of: "host: 127.0.0.1", with: "host: no-such-broker.invalid")
        try expectBadBroker(mqtt: mqtt, rig: rig, expect: ["no-such-broker.invalid:1883", "lookup"])
    }

    @Test func refusedCredentialsAreReportedWithoutThePassword() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let passwords = rig.dir.appendingPathComponent("broker.passwd").path
        let made = try runCommand("/usr/bin/mosquitto_passwd", ["-c", "-b", passwords, "gw-up", "the-right-one"])
        #expect(made.status == 0, "\(made.stderr)")
        let broker = try Broker(listenerConfig: "password_file \(passwords)", allowAnonymous: false)
        defer { broker.remove() }
        let secret = "Wr0ng-pa55word-xyz"
        try expectBadBroker(mqtt: Self.mqtt(port: broker.port, extra: "  username: gw-up\n  password: \(secret)"),
                            rig: rig, secret: secret, expect: ["refused", "not authori"])
        // With a password file holding the right password, the same broker takes the readings.
        let file = rig.dir.appendingPathComponent("mqtt.pw")
        try "the-right-one\n".write(to: file, atomically: true, encoding: .utf8)
        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/readings",
                                 extraArguments: ["-u", "gw-up", "-P", "the-right-one"])
        defer { sub.stop() }
        let agent = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port, extra: "  username: gw-up\n  password_file: mqtt.pw")))
        defer { agent.stop() }
        try sub.wait("readings with the right password") { Self.seqs($0).count >= 10 }
        #expect(!agent.stderr.contains("the-right-one"))
    }

    @Test func wrongTLSAuthorityIsReportedAndTheRightOneConnectsOverMQTT5() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let certs = try TestCertificates(in: rig.dir)
        let broker = try Broker(listenerConfig: "cafile \(certs.caFile)\ncertfile \(certs.serverCert)\nkeyfile \(certs.serverKey)")
        defer { broker.remove() }
        try expectBadBroker(mqtt: Self.mqtt(port: broker.port, extra: "  tls: {ca_file: \(certs.otherCAFile)}"),
                            rig: rig, expect: ["127.0.0.1:\(broker.port)", "certificate verify failed"])

        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/readings", extraArguments: ["--cafile", certs.caFile])
        defer { sub.stop() }
        let agent = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port, extra: "  protocol: 5\n  tls: {ca_file: \(certs.caFile)}")))
        defer { agent.stop() }
        try sub.wait("readings over TLS") { Self.seqs($0).count >= 10 }
        #expect(agent.stderr.contains("mqtt.tls=on") && agent.stderr.contains("mqtt.protocol=5"), "\(agent.stderr.suffix(2000))")
        Self.checkBatches(sub)
    }

    @Test func aClientCertificateIsPresentedWhenTheBrokerRequiresOne() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let certs = try TestCertificates(in: rig.dir)
        let broker = try Broker(listenerConfig: "cafile \(certs.caFile)\ncertfile \(certs.serverCert)\nkeyfile \(certs.serverKey)\nrequire_certificate true")
        defer { broker.remove() }
        // Without one the broker turns the agent away; it says so and keeps trying.
        try expectBadBroker(mqtt: Self.mqtt(port: broker.port, extra: "  tls: {ca_file: \(certs.caFile)}"),
                            rig: rig, expect: ["127.0.0.1:\(broker.port)"])

        let sub = try Subscriber(broker: broker, topic: Self.prefix + "/readings",
                                 extraArguments: ["--cafile", certs.caFile, "--cert", certs.clientCert, "--key", certs.clientKey])
        defer { sub.stop() }
        let tls = "  tls: {ca_file: \(certs.caFile), cert_file: \(certs.clientCert), key_file: \(certs.clientKey)}"
        let agent = try rig.startAgent(try rig.site(mqtt: Self.mqtt(port: broker.port, extra: tls)))
        defer { agent.stop() }
        try sub.wait("readings from the agent with its client certificate") { Self.seqs($0).count >= 10 }
    }
}
