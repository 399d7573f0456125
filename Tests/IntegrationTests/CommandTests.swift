import Foundation
import Testing

/// Signed head-end commands end to end: `meteragent keys generate` / `sign` (and Python's
/// `cryptography` as an independent signer) → `mosquitto_pub` → a real mosquitto on 127.0.0.1 →
/// `meteragent run` → simulated meters over ptys and TCP → results on `<prefix>/cmd/result`.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct CommandTests {
    static let gateway = "gw-cmd"
    static let prefix = "meteragent/gw-cmd"
    static let scenario = """
    lines:
      - id: rs485
        baud: 9600
        devices:
          - {unit: 1, profile: generic-modbus-relay-meter, model: electricity, seed: 31}
          - {unit: 2, profile: generic-modbus-relay-meter, model: electricity, seed: 32}
      - id: dlt
        protocol: dlt645
        baud: 9600
        devices:
          - {address: "202611250301", profile: dlt645-2007-generic, model: electricity, password: "000000"}
          - {address: "202611250303", profile: dlt645-2007-csg, model: electricity, password: "123456", esam: {key: "\(ESAMCommandTests.key)", session_s: 4}}
      - id: cjt
        protocol: cjt188
        baud: 9600
        devices:
          - {address: "00000000301003", profile: cjt188-gas, model: gas}
    tcp:
      - id: plant
        port: 0
        devices:
          - {unit: 1, profile: generic-modbus-relay-meter, model: electricity, seed: 33}

    """

    /// Simulator, broker, keys, site, agent and a subscriber to the results for one test.
    final class Rig {
        let sim: Simulator
        let broker: Broker
        let dir: URL
        let keyFile: String
        let pythonKeyFile: String
        var site = ""
        var agent: ChildProcess?
        /// The agent's control socket (`status`, `config apply`).
        let controlSocket: String
        let results: Subscriber
        private var counter = 0

        /// `deviceExtra`: more keys for a device's flow mapping by id (`", cost_control: remote"`).
        /// `scenarioLines`: more scenario lines (card readers); `siteExtra`: more top-level site keys.
        init(busExtra: String = "", deviceExtra: [String: String] = [:], scenarioLines: String = "", siteExtra: String = "") throws {
            sim = try Simulator(scenario: CommandTests.scenario.replacingOccurrences(of: "\ntcp:\n", with: "\n" + scenarioLines + "tcp:\n"))
            broker = try Broker()
            dir = try Paths.temporaryDirectory()
            controlSocket = try Paths.controlSocket()
            let generated = try runCommand(Paths.meteragent, ["keys", "generate", "--out", dir.appendingPathComponent("ops-1").path])
            guard generated.status == 0 else { throw HarnessError("keys generate: \(generated.stderr)") }
            keyFile = dir.appendingPathComponent("ops-1.key").path
            let publicKey = try String(contentsOfFile: dir.appendingPathComponent("ops-1.pub").path, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            pythonKeyFile = dir.appendingPathComponent("py-1.pem").path
            let python = try runCommand(Paths.python, [Paths.interopScript("ed25519_peer.py"), "keygen", pythonKeyFile])
            guard python.status == 0 else {
                throw HarnessError("Python `cryptography` (the independent Ed25519 signer) is missing from \(Paths.python): \(python.stderr)")
            }
            let pythonPublic = python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let rs485 = try #require(sim.lines["rs485"]), dlt = try #require(sim.lines["dlt"]), cjt = try #require(sim.lines["cjt"])
            let port = try #require(sim.tcpPorts.first)
            site = try writeSite("""
            gateway: \(CommandTests.gateway)
            commands:
              keys:
                - {id: ops-1, ed25519: \(publicKey)}
                - {id: py-1, ed25519: \(pythonPublic)}
            buses:
              - {id: rs485, type: serial, port: \(rs485), baud: 9600, parity: none, timeout_ms: 1000, retries: 1\(busExtra)}
              - {id: dlt, type: serial, port: \(dlt), baud: 9600, parity: none, protocol: dlt645, timeout_ms: 500, retries: 1}
              - {id: cjt, type: serial, port: \(cjt), baud: 9600, parity: none, protocol: cjt188, timeout_ms: 500, retries: 1}
              - {id: plant, type: tcp, host: 127.0.0.1, port: \(port), timeout_ms: 1000}
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter, poll_interval: 1s\(deviceExtra["flat-1"] ?? "")}
              - {id: flat-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter, poll_interval: 1s, protected: true\(deviceExtra["flat-2"] ?? "")}
              - {id: flat-3, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, password: "000000", poll_interval: 2s\(deviceExtra["flat-3"] ?? "")}
              - {id: prepaid-3, bus: dlt, address: "202611250303", profile: dlt645-2007-csg, password: "123456", operator: "00000303", poll_interval: 2s\(deviceExtra["prepaid-3"] ?? "")}
              - {id: gas-3, bus: cjt, address: "00000000301003", profile: cjt188-gas, poll_interval: 2s\(deviceExtra["gas-3"] ?? "")}
              - {id: main, bus: plant, unit: 1, profile: generic-modbus-relay-meter, poll_interval: 1s\(deviceExtra["main"] ?? "")}
            store: {path: \(dir.path)/outbox.db, flush_interval: 200ms}
            mqtt:
              host: 127.0.0.1
              port: \(broker.port)
              reconnect: {min_ms: 200, max_ms: 1000}
              publish_timeout_ms: 3000
            \(siteExtra)
            """, in: dir)
            results = try Subscriber(broker: broker, topic: CommandTests.prefix + "/#")
        }

        /// Appends YAML to the site file (what needs the simulator's ptys, known only after its start).
        func appendToSite(_ yaml: String) throws {
            let text = try String(contentsOfFile: site, encoding: .utf8)
            try (text + yaml + "\n").write(toFile: site, atomically: true, encoding: .utf8)
        }

        /// `arguments`: more options for `meteragent run`.
        func startAgent(_ arguments: [String] = []) throws {
            // The status is retained and an earlier run announced online too: wait for this run's.
            func onlineCount() -> Int {
                results.messages.filter { $0.topic == CommandTests.prefix + "/status" && $0.payload.contains("online") }.count
            }
            let before = onlineCount()
            let agent = try ChildProcess(Paths.meteragent, ["run", site, "--control-socket", controlSocket] + arguments)
            self.agent = agent
            try UplinkTests.waitFor("the agent online") { onlineCount() > before && agent.stderr.contains("polling") }
        }

        func stopAgent() {
            agent?.stop()
            _ = agent?.wait()
        }

        /// A command JSON; `validFor` seconds from now.
        func command(_ id: String, device: String, action: String, params: String? = nil, gateway: String = CommandTests.gateway,
                     issuedOffset: Int = -5, validFor: Int = 300) -> String {
            let now = Int(Date().timeIntervalSince1970)
            var text = "{\"id\":\"\(id)\",\"gateway\":\"\(gateway)\",\"device\":\"\(device)\",\"action\":\"\(action)\""
            if let params { text += ",\"params\":\(params)" }
            return text + ",\"issued_at\":\(now + issuedOffset),\"expires_at\":\(now + issuedOffset + validFor)}"
        }

        /// The envelope `meteragent sign` makes for `json`.
        func sign(_ json: String, keyID: String = "ops-1", key: String? = nil) throws -> String {
            counter += 1
            let file = dir.appendingPathComponent("command-\(counter).json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            let signed = try runCommand("/bin/sh", ["-c", "\"$0\" sign --key \"$1\" --key-id \"$2\" < \"$3\"",
                                                    Paths.meteragent, key ?? keyFile, keyID, file.path])
            guard signed.status == 0 else { throw HarnessError("meteragent sign: \(signed.stderr)") }
            return signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The envelope Python's `cryptography` makes for `json` with the `py-1` key.
        func signWithPython(_ json: String) throws -> String {
            counter += 1
            let file = dir.appendingPathComponent("command-\(counter).json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            let signed = try runCommand(Paths.python, [Paths.interopScript("ed25519_peer.py"), "envelope", pythonKeyFile, "py-1", file.path])
            guard signed.status == 0 else { throw HarnessError("python sign: \(signed.stderr)") }
            return signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func publish(_ payload: String, topic: String = CommandTests.prefix + "/cmd") throws {
            let sent = try runCommand("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-t", topic, "-m", payload])
            guard sent.status == 0 else { throw HarnessError("mosquitto_pub: \(sent.stderr)") }
        }

        /// Every result received so far.
        var allResults: [[String: Any]] { results.records(on: CommandTests.prefix + "/cmd/result", key: "results") }

        func results(for id: String) -> [[String: Any]] { allResults.filter { $0["id"] as? String == id } }

        /// Waits for the first result of `id`.
        @discardableResult
        func result(_ id: String, timeout: Double = 20) throws -> [String: Any] {
            try results.wait(timeout: timeout, "the result of \(id)") { _ in !results(for: id).isEmpty }
            return results(for: id)[0]
        }

        func stop() {
            stopAgent()
            results.stop()
            sim.stop()
            broker.remove()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func observed(_ result: [String: Any]) -> [String: Any] { result["observed"] as? [String: Any] ?? [:] }

    @Test func relayAndValveCommandsActOnTheMetersAndReportWhatTheyReadBack() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        // Consumption first, so that "it stopped" means something.
        try rig.sim.control("set rs485 1 power.active.total 2000")
        try rig.sim.control("set dlt 202611250301 power.active.total 2000")
        try rig.sim.control("set cjt 00000000301003 flow.rate 1.2")

        try rig.publish(try rig.sign(rig.command("open-1", device: "flat-1", action: "relay.open")))
        try rig.publish(try rig.sign(rig.command("open-3", device: "flat-3", action: "relay.open")))
        try rig.publish(try rig.sign(rig.command("close-gas", device: "gas-3", action: "valve.close")))
        let modbus = try rig.result("open-1"), dlt = try rig.result("open-3"), gas = try rig.result("close-gas")
        #expect(modbus["status"] as? String == "done", "\(modbus)")
        #expect(Self.observed(modbus)["relay.state"] as? Bool == false)
        #expect(dlt["status"] as? String == "done", "\(dlt)")
        #expect(Self.observed(dlt)["relay.open"] as? Bool == true)
        #expect(gas["status"] as? String == "done", "\(gas)")
        #expect(Self.observed(gas)["valve.state"] as? Bool == false)
        for result in [modbus, dlt, gas] {
            #expect(result["reason"] == nil)
            #expect((result["finished_ms"] as? Int ?? 0) >= (result["started_ms"] as? Int ?? .max))
        }

        // The simulated meters changed, and what they meter stopped.
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 0)
        let before = (try rig.sim.state("rs485", 1)["energy.import.total"], try rig.sim.state("cjt", "00000000301003")["volume.total"])
        Thread.sleep(forTimeInterval: 2)
        let after = (try rig.sim.state("rs485", 1)["energy.import.total"], try rig.sim.state("cjt", "00000000301003")["volume.total"])
        #expect(before.0 == after.0)
        #expect(before.1 == after.1)
        #expect(try rig.sim.state("rs485", 1)["power.active.total"] == 0)

        // Reconnecting brings the load back.
        try rig.publish(try rig.sign(rig.command("close-1", device: "flat-1", action: "relay.close")))
        #expect(try rig.result("close-1")["status"] as? String == "done")
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 1)
        // Every result is also an audit line.
        #expect(rig.agent?.stderr.contains("command command.id=open-1 device.id=flat-1 action=relay.open status=done") == true)
    }

    @Test func aLoadLimitTripsTheMeterWhenTheLoadGoesAboveItAndTimeSyncSetsTheClock() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        try rig.sim.control("set plant 1 power.active.total 3000")
        try rig.publish(try rig.sign(rig.command("limit", device: "main", action: "load.limit", params: "{\"kw\":2.5}")))
        let limit = try rig.result("limit")
        #expect(limit["status"] as? String == "done", "\(limit)")
        #expect((Self.observed(limit)["load.limit"] as? NSNumber)?.doubleValue == 2.5)
        // 3 kW drawn against a 2.5 kW limit: the meter trips itself at its next cycle.
        try UplinkTests.waitFor("the meter to trip", timeout: 10) { (try? rig.sim.state("plant", 1)["relay.state"]) == 0 }
        // The head-end may reconnect (the load is still too high: it trips again; lift the limit first).
        try rig.publish(try rig.sign(rig.command("unlimit", device: "main", action: "load.limit", params: "{\"kw\":60}")))
        #expect(try rig.result("unlimit")["status"] as? String == "done")
        try rig.publish(try rig.sign(rig.command("reclose", device: "main", action: "relay.close")))
        #expect(try rig.result("reclose")["status"] as? String == "done")
        #expect(try rig.sim.state("plant", 1)["relay.state"] == 1)

        try rig.publish(try rig.sign(rig.command("clock", device: "flat-3", action: "time.sync")))
        let clock = try rig.result("clock")
        #expect(clock["status"] as? String == "done", "\(clock)")
        #expect(abs((Self.observed(clock)["clock.offset"] as? NSNumber)?.doubleValue ?? 99) <= 5)
    }

    @Test func everyRejectionHasItsReasonAndNothingRuns() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        let good = rig.command("x-1", device: "flat-1", action: "relay.open")
        var expected: [String: String] = [:]
        func send(_ id: String, _ envelope: String, _ reason: String) throws {
            try rig.publish(envelope)
            expected[id] = reason
        }
        try send("bad-json", "{\"key\":\"ops-1\",\"payload\":", "malformed")
        let other = try rig.sign(rig.command("unknown-key", device: "flat-1", action: "relay.open"), keyID: "ops-9")
        try send("unknown-key", other, "unknown_key")
        // A signature over other bytes: the envelope of one command with the payload of another.
        let signed = try rig.sign(good)
        let forged = signed.replacingOccurrences(of: Data(good.utf8).base64EncodedString(),
                                                 with: Data(rig.command("forged", device: "flat-1", action: "relay.open").utf8).base64EncodedString())
        #expect(forged != signed)
        try send("forged", forged, "bad_signature")
        try send("other-gw", try rig.sign(rig.command("other-gw", device: "flat-1", action: "relay.open", gateway: "gw-other")), "other_gateway")
        try send("future", try rig.sign(rig.command("future", device: "flat-1", action: "relay.open", issuedOffset: 3600)), "not_yet_valid")
        try send("stale", try rig.sign(rig.command("stale", device: "flat-1", action: "relay.open", issuedOffset: -600, validFor: 60)), "expired")
        try send("nobody", try rig.sign(rig.command("nobody", device: "flat-9", action: "relay.open")), "unknown_device")
        try send("no-valve", try rig.sign(rig.command("no-valve", device: "flat-1", action: "valve.close")), "unsupported_action")
        try send("protected", try rig.sign(rig.command("protected", device: "flat-2", action: "relay.open")), "protected_device")
        try send("too-much", try rig.sign(rig.command("too-much", device: "flat-1", action: "load.limit", params: "{\"kw\":500}")), "bad_params")
        try rig.publish(try rig.sign(rig.command("cfg-1", device: "flat-1", action: "relay.open")), topic: CommandTests.prefix + "/config")
        expected["cfg-1"] = "unsupported_action"  // the config topic takes only config.apply

        for (id, reason) in expected where id != "bad-json" {
            let result = try rig.result(id)
            #expect(result["status"] as? String == "rejected", "\(id): \(result)")
            #expect(result["reason"] as? String == reason, "\(id): \(result)")
            #expect((result["message"] as? String)?.isEmpty == false)
        }
        try rig.results.wait(timeout: 10, "the malformed envelope's result") { _ in
            rig.allResults.contains { $0["reason"] as? String == "malformed" }
        }
        // Nothing reached a meter: both relays are still closed.
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 1)
        #expect(try rig.sim.state("rs485", 2)["relay.state"] == 1)
        // The protected device still takes a reconnect.
        try rig.publish(try rig.sign(rig.command("reconnect-2", device: "flat-2", action: "relay.close")))
        #expect(try rig.result("reconnect-2")["status"] as? String == "done")
    }

    @Test func aCommandSignedByPythonsCryptographyIsAcceptedAndReadNowCarriesItsID() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        let json = rig.command("py-read", device: "main", action: "read.now", params: "{\"points\":[\"energy.import.total\",\"relay.state\"]}")
        let envelope = try rig.signWithPython(json)
        try rig.publish(envelope)
        let result = try rig.result("py-read")
        #expect(result["status"] as? String == "done", "\(result)")
        #expect(Self.observed(result)["relay.state"] as? Bool == true)
        #expect(Self.observed(result)["energy.import.total"] is Double)
        try rig.results.wait(timeout: 10, "readings that carry the command id") { sub in
            sub.records(on: CommandTests.prefix + "/readings").filter { $0["command"] as? String == "py-read" }.count == 2
        }
        // …and an envelope from `meteragent sign` verifies with Python too.
        let ours = rig.dir.appendingPathComponent("ours.json")
        try rig.sign(rig.command("ours", device: "main", action: "read.now")).write(to: ours, atomically: true, encoding: .utf8)
        let verified = try runCommand("/bin/sh", ["-c", "\"$0\" \"$1\" verify \"$2\" < \"$3\"", Paths.python,
                                                  Paths.interopScript("ed25519_peer.py"), rig.dir.appendingPathComponent("ops-1.pub").path, ours.path])
        #expect(verified.stdout.contains("\"valid\": true"), "\(verified.stdout) \(verified.stderr)")
    }

    @Test func aRepeatedCommandGetsItsStoredResultAndNeverRunsTwiceAlsoAfterARestart() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        let envelope = try rig.sign(rig.command("once", device: "flat-1", action: "relay.open"))
        try rig.publish(envelope)
        #expect(try rig.result("once")["status"] as? String == "done")
        // Put the relay back behind the agent's back: if the command ran again, it would open it.
        try rig.sim.control("set rs485 1 relay.state 1")
        try rig.publish(envelope)
        try rig.results.wait("the repeated result") { _ in rig.results(for: "once").count == 2 }
        #expect(rig.results(for: "once")[1]["repeated"] as? Bool == true)
        #expect(rig.results(for: "once")[1]["status"] as? String == "done")
        rig.stopAgent()
        try rig.startAgent()
        try rig.publish(envelope)
        try rig.results.wait("the result after the restart") { _ in rig.results(for: "once").count == 3 }
        #expect(rig.results(for: "once")[2]["repeated"] as? Bool == true)
        Thread.sleep(forTimeInterval: 1)
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 1)
    }

    @Test func aResultThatCannotBePublishedAtOnceArrivesAfterTheBrokerComesBack() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        // Slow replies: the write and its read-back take over half a second, time to stop the broker.
        try rig.sim.control("fault rs485 1 delay_ms 400")
        try rig.publish(try rig.sign(rig.command("outage", device: "flat-1", action: "relay.open")))
        try UplinkTests.waitFor("the relay to open", timeout: 10) { (try? rig.sim.state("rs485", 1)["relay.state"]) == 0 }
        rig.broker.stop()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(rig.results(for: "outage").isEmpty)
        try rig.broker.start()
        let result = try rig.result("outage", timeout: 30)
        #expect(result["status"] as? String == "done", "\(result)")
        Thread.sleep(forTimeInterval: 1)
        // At most once: any further delivery of the command is answered from the command log.
        #expect(rig.results(for: "outage").filter { $0["repeated"] == nil }.count == 1)
        #expect(rig.agent?.stderr.components(separatedBy: "command command.id=outage").count == 2)
    }

    @Test func aFloodOfForgedCommandsDoesNotSlowPollingOrGrowMemory() throws {
        let rig = try Rig()
        defer { rig.stop() }
        try rig.startAgent()
        let agent = try #require(rig.agent)
        Thread.sleep(forTimeInterval: 3)
        let rssBefore = try Self.residentKB(agent.process.processIdentifier)
        let readingsBefore = Self.polls(rig, device: "main")
        let started = Date()
        // 1,000 messages in one mosquitto_pub: garbage, bad signatures, unknown keys.
        let template = try rig.sign(rig.command("forged", device: "flat-1", action: "relay.open"))
        var lines: [String] = []
        for i in 0..<1_000 {
            switch i % 4 {
            case 0: lines.append("garbage \(i) {{{")
            case 1: lines.append(template.replacingOccurrences(of: "\"sig\":\"", with: "\"sig\":\"AA"))
            case 2: lines.append(template.replacingOccurrences(of: "ops-1", with: "ops-\(i)"))
            default: lines.append("{\"key\":\"ops-1\",\"payload\":\"\(Data("x\(i)".utf8).base64EncodedString())\",\"sig\":\"AAAA\"}")
            }
        }
        let file = rig.dir.appendingPathComponent("flood.txt")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let flood = try runCommand("/bin/sh", ["-c", "/usr/bin/mosquitto_pub -h 127.0.0.1 -p \"$0\" -q 1 -t \"$1\" -l < \"$2\"",
                                               String(rig.broker.port), CommandTests.prefix + "/cmd", file.path], timeout: 60)
        #expect(flood.status == 0, "\(flood.stderr)")
        Thread.sleep(forTimeInterval: 4)
        let elapsed = Date().timeIntervalSince(started)
        // The 1 s poll of the TCP meter went on: at least 3 of every 4 polls happened.
        let polled = Self.polls(rig, device: "main") - readingsBefore
        #expect(Double(polled) >= elapsed * 0.75 - 1, "\(polled) polls in \(elapsed) s")
        let rssAfter = try Self.residentKB(agent.process.processIdentifier)
        #expect(rssAfter - rssBefore < 2_048, "resident \(rssBefore) kB before the flood, \(rssAfter) kB after")
        // Forged messages get at most a handful of stored answers; the rest are counted in the log.
        #expect(rig.allResults.count <= 20, "\(rig.allResults.count) results")
        // The genuine command after the flood still works.
        try rig.publish(try rig.sign(rig.command("genuine", device: "flat-1", action: "relay.open")))
        #expect(try rig.result("genuine")["status"] as? String == "done")
    }

    /// Readings of `device`'s `energy.import.total` received so far: one per poll.
    static func polls(_ rig: Rig, device: String) -> Int {
        rig.results.records(on: prefix + "/readings").filter {
            $0["device"] as? String == device && $0["point"] as? String == "energy.import.total" && $0["command"] == nil
        }.count
    }

    static func residentKB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kB = Int(line.split(separator: " ").dropFirst().first ?? "") else { throw HarnessError("no VmRSS for \(pid)") }
        return kB
    }
}
