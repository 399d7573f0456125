import Foundation
import MeterProtocols
import Testing

/// DL/T 645 end to end, every party a separate process: the agent against our simulator on a
/// pty; the agent against the PyPI `dlt645` meter over TCP and over a socat pty pair; the PyPI
/// masters `dlt645` and `python-dlt645` against our simulator; relay commands and time sync
/// through the command line; a line with a silent meter keeping its schedule.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DLT645Tests {
    /// Python of the venv holding PyPI `dlt645` 3.2.0 (Makefile: .venv-dlt645).
    static var dlt645Python: String {
        ProcessInfo.processInfo.environment["METERAGENT_PYTHON_DLT645"] ?? Paths.repoRoot.appendingPathComponent(".venv-dlt645/bin/python").path
    }
    /// Python of the venv holding PyPI `python-dlt645` 0.1.4 (Makefile: .venv-pydlt645).
    static var pydlt645Python: String {
        ProcessInfo.processInfo.environment["METERAGENT_PYTHON_PYDLT645"] ?? Paths.repoRoot.appendingPathComponent(".venv-pydlt645/bin/python").path
    }

    /// The PyPI meter's address strings are wire order: written 121078563412 is wire 123456781012.
    static func wireOrder(_ written: String) -> String {
        let pairs = stride(from: 0, to: written.count, by: 2).map { i -> String in
            let start = written.index(written.startIndex, offsetBy: i)
            return String(written[start..<written.index(start, offsetBy: 2)])
        }
        return pairs.reversed().joined()
    }

    /// Point → value of the agent's `read --json`, all readings good.
    func agentRead(_ site: String, _ device: String, _ points: [String] = []) throws -> [String: Double] {
        let result = try runCommand(Paths.meteragent, ["read", site, device] + points + ["--json"])
        #expect(result.status == 0, "read \(device): \(result.stdout) \(result.stderr)")
        var values: [String: Double] = [:]
        for reading in jsonLines(result.stdout) {
            #expect(reading["quality"] as? String == "good", "\(reading)")
            if let point = reading["point"] as? String, let value = (reading["value"] as? NSNumber)?.doubleValue { values[point] = value }
        }
        return values
    }

    // MARK: - Our simulator

    /// Two meters with pinned values on one pty line (9600 8N1: ptys carry no parity).
    static let scenario = """
    lines:
      - id: dlt
        protocol: dlt645
        baud: 9600
        devices:
          - {address: "202611250301", profile: dlt645-2007-generic, model: electricity, password: "135790",
             set: {power.active.total: 0, energy.import.total: 4321.09, energy.total: 4321.09, voltage.l1: 231.4, current.l1: 5.125, frequency: 49.98, power_factor.total: 0.953}}
          - {address: "202611250302", profile: dlt645-2007-three-phase, model: electricity, set: {power.active.total: 3600}}

    """

    func siteFor(_ sim: Simulator, password: String = "135790", extra: String = "") throws -> String {
        let pty = try #require(sim.lines["dlt"])
        return try writeSite("""
            gateway: gw-dlt-it
            buses:
              - {id: dlt, type: serial, port: \(pty), baud: 9600, parity: none, protocol: dlt645, timeout_ms: 400, retries: 1}
            devices:
              - {id: flat, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, password: "\(password)", operator: "00000042"}
              - {id: shop, bus: dlt, address: "202611250302", profile: dlt645-2007-three-phase}
            \(extra)
            """, in: try Paths.temporaryDirectory())
    }

    @Test func agentReadsOurSimulatorOverAPty() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let site = try siteFor(sim)
        let flat = try agentRead(site, "flat")
        #expect(flat["energy.import.total"] == 4321.09)
        #expect(flat["voltage.l1"] == 231.4 && flat["current.l1"] == 5.125 && flat["frequency"] == 49.98)
        #expect(flat["power.active.total"] == 0 && flat["power_factor.total"] == 0.953)
        let shop = try agentRead(site, "shop", ["voltage.l1", "voltage.l2", "voltage.l3", "power.active.total"])
        #expect(shop["power.active.total"] == 3600)
        #expect(shop.count == 4)
    }

    @Test func relayCommandsChangeTheSimulatorAndReadBackConfirms() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let site = try siteFor(sim)
        func relayState() throws -> String {
            try sim.control("list").split(separator: "\n").first { $0.contains("address=202611250302") }.map(String.init) ?? ""
        }
        let open = try runCommand(Paths.meteragent, ["relay", site, "shop", "open", "--json"])
        #expect(open.status == 0, "\(open.stdout) \(open.stderr)")
        #expect(open.stdout.contains("\"status\":\"confirmed\"") && open.stdout.contains("\"point\":\"relay.open\",\"value\":true"), "\(open.stdout)")
        let tripped = try relayState()
        #expect(tripped.contains("relay=relay open, command off"), "\(tripped)")
        #expect(try sim.state("dlt", 2)["power.active.total"] == 0, "a tripped relay cuts the load")

        let close = try runCommand(Paths.meteragent, ["relay", site, "shop", "close"])
        #expect(close.status == 0, "\(close.stdout) \(close.stderr)")
        #expect(close.stdout.contains("relay.close: confirmed"))
        #expect(try relayState().contains("relay=relay closed, command on"))

        let keep = try runCommand(Paths.meteragent, ["relay", site, "shop", "keep-power"])
        #expect(keep.status == 0 && keep.stdout.contains("keep power"), "\(keep.stdout)")
        let refused = try runCommand(Paths.meteragent, ["relay", site, "shop", "open"])
        #expect(refused.status == 1 && refused.stdout.contains("rejected") && refused.stdout.contains("unauthorised"), "\(refused.stdout)")
    }

    @Test func wrongPasswordYieldsAClearUnauthorisedError() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let site = try siteFor(sim, password: "000000")
        let result = try runCommand(Paths.meteragent, ["relay", site, "flat", "open", "--json"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("\"status\":\"rejected\""), "\(result.stdout)")
        #expect(result.stdout.contains("unauthorised (wrong password or level)") && result.stdout.contains("\"quality\":\"meter_error(4)\""), "\(result.stdout)")
        #expect(!result.stdout.contains("000000") && !result.stderr.contains("000000"), "the password is never printed")
        #expect(try sim.control("list").contains("address=202611250301 faults=none relay=relay closed"))
        // With the right password the same command goes through.
        let right = try runCommand(Paths.meteragent, ["relay", try siteFor(sim), "flat", "open"])
        #expect(right.status == 0, "\(right.stdout)")
    }

    @Test func timesyncBroadcastsAndReadsTheClocksBack() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let result = try runCommand(Paths.meteragent, ["timesync", try siteFor(sim), "dlt"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("broadcast ") && result.stdout.contains("flat") && result.stdout.contains("shop"), "\(result.stdout)")
    }

    @Test func lineWithFiveMetersAndASilentOneKeepsItsSchedule() throws {
        var meters = ""
        var devices = ""
        for n in 1...5 {
            meters += "      - {address: \"00000000000\(n)\", profile: dlt645-2007-csg, model: electricity}\n"
            devices += "  - {id: m\(n), bus: dlt, address: \"00000000000\(n)\", profile: dlt645-2007-csg, poll_interval: 1s}\n"
        }
        let sim = try Simulator(scenario: "lines:\n  - id: dlt\n    protocol: dlt645\n    baud: 115200\n    devices:\n" + meters + "\n")
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let site = try writeSite("""
            gateway: gw-dlt-schedule
            buses:
              - {id: dlt, type: serial, port: \(pty), baud: 115200, parity: none, protocol: dlt645, timeout_ms: 200, retries: 0}
            devices:
            \(devices)  - {id: silent, bus: dlt, address: "000000000009", profile: dlt645-2007-csg, poll_interval: 1s}
            """, in: try Paths.temporaryDirectory())
        let agent = try ChildProcess(Paths.meteragent, ["run", site, "--duration", "8"])
        #expect(agent.wait(timeout: 40) == 0, "\(agent.stderr)")
        let readings = jsonLines(agent.stdout)
        func cycles(_ device: String) -> Int {
            Set(readings.filter { $0["device"] as? String == device && $0["quality"] as? String == "good" }.map { $0["ts"] as! Int }).count
        }
        for n in 1...5 {
            #expect(cycles("m\(n)") >= 6, "m\(n): \(cycles("m\(n)")) good cycles in 8 s")
        }
        let silent = readings.filter { $0["device"] as? String == "silent" }
        #expect(!silent.isEmpty && silent.allSatisfy { ["timeout", "backoff"].contains($0["quality"] as? String) })
        #expect(silent.contains { $0["quality"] as? String == "backoff" }, "a silent meter backs off instead of holding the line")
    }

    // MARK: - The PyPI dlt645 meter

    static let served: [String: Double] = [
        "energy.total": 12345.67, "energy.import.total": 12000.5, "energy.export.total": 345.17, "voltage.l1": 231.4,
        "current.l1": -5.125, "power.active.total": 1187.5, "power_factor.total": 0.953, "frequency": 49.98,
    ]

    func startPyPIMeter(_ arguments: [String]) throws -> (ChildProcess, Int) {
        let meter = try ChildProcess(Self.dlt645Python, [Paths.interopScript("dlt645_meter.py"), "--wire-address", Self.wireOrder("121078563412")] + arguments)
        let ready = try meter.waitForLine(timeout: 30) { $0.hasPrefix("ready") }
        return (meter, Int(ready.split(separator: " ").last ?? "0") ?? 0)
    }

    func expectAgentReadsPyPIMeter(bus: String) throws {
        let site = try writeSite("""
            gateway: gw-dlt-interop
            buses:
              - \(bus)
            devices:
              - {id: meter, bus: peer, address: "121078563412", profile: dlt645-2007-generic}
            """, in: try Paths.temporaryDirectory())
        let values = try agentRead(site, "meter", Self.served.keys.sorted())
        for (point, expected) in Self.served {
            #expect(values[point] == expected, "\(point): agent \(values[point].map { "\($0)" } ?? "nil"), PyPI dlt645 \(expected)")
        }
    }

    @Test func agentReadsThePyPIMeterOverTCP() throws {
        let (meter, port) = try startPyPIMeter(["--tcp-port", "0"])
        defer { meter.stop() }
        try expectAgentReadsPyPIMeter(bus: "{id: peer, type: tcp, host: 127.0.0.1, port: \(port), protocol: dlt645, timeout_ms: 2000}")
        // Unlike a real meter (and ours), the PyPI meter answers a frame for another address, with
        // error bit 0: the agent reports the error reply instead of a timeout.
        let site = try writeSite("""
            gateway: gw-dlt-interop
            buses: [{id: peer, type: tcp, host: 127.0.0.1, port: \(port), protocol: dlt645, timeout_ms: 2000}]
            devices: [{id: other, bus: peer, address: "000000000001", profile: dlt645-2007-generic}]
            """, in: try Paths.temporaryDirectory())
        let other = try runCommand(Paths.meteragent, ["read", site, "other", "energy.total", "--json"])
        #expect(other.status == 1 && jsonLines(other.stdout).first?["quality"] as? String == "meter_error(1)", "\(other.stdout)")
    }

    @Test func probeFindsTheAddressOfTheOnlyMeterThenReadsIt() throws {
        let sim = try Simulator(scenario: """
            lines:
              - id: dlt
                protocol: dlt645
                baud: 9600
                devices:
                  - {address: "202611250301", profile: dlt645-2007-generic, model: electricity, set: {voltage.l1: 229.9}}

            """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let found = try probe(pty, profile: "dlt645-2007-generic")
        #expect(found.status == 0, "\(found.stdout) \(found.stderr)")
        #expect(found.stdout.contains("address 202611250301") && found.stdout.contains("229.9"), "\(found.stdout)")
        let wrong = try probe(pty, profile: "dlt645-2007-csg", ["--address", "202611250399", "--timeout-ms", "200"])
        #expect(wrong.status == 1 && wrong.stderr.contains("meter 202611250399 on \(pty): timeout"), "\(wrong.stderr)")
    }

    @Test func planShowsOneReadPerDataIdentifier() throws {
        let result = try runCommand(Paths.meteragent, ["plan", Paths.repoRoot.appendingPathComponent("Hardware/examples/dlt645-example-site.yaml").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("bus rs485-dlt: serial /dev/ttyS1 2400 8E1, DL/T 645-2007"))
        #expect(result.stdout.contains("device flat-301-elec address 202611250301 (dlt645-2007-generic): 13 points in 13 requests"))
        #expect(result.stdout.contains("read DI 02020100  XXX.XXX signed  20+23 bytes  current.l1"), "\(result.stdout)")
        #expect(result.stdout.contains("bus rs485-old: serial /dev/ttyS2 1200 8E1, DL/T 645-1997"))
    }

    @Test func agentReadsThePyPIMeterOverASocatPtyPair() throws {
        let dir = try Paths.temporaryDirectory()
        let (socat, meterEnd, agentEnd) = try socatPtyPair(in: dir)
        defer { socat.stop() }
        let (meter, _) = try startPyPIMeter(["--serial", meterEnd])
        defer { meter.stop() }
        try expectAgentReadsPyPIMeter(bus: "{id: peer, type: serial, port: \(agentEnd), baud: 9600, parity: none, protocol: dlt645, timeout_ms: 2000, retries: 1}")
    }

    // MARK: - PyPI masters against our simulator

    @Test func pypiDlt645MasterReadsOurSimulatorLikeTheAgent() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let ours = try agentRead(try siteFor(sim), "flat")
        let peer = try runCommand(Self.dlt645Python, [Paths.interopScript("dlt645_read.py"), pty, "--wire-address", Self.wireOrder("202611250301")], timeout: 60)
        #expect(peer.status == 0, "\(peer.stdout) \(peer.stderr)")
        var theirs: [String: Double] = [:]
        for line in peer.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let v = Double(parts[1]) { theirs[String(parts[0])] = v }
        }
        for point in ["energy.import.total", "voltage.l1", "current.l1", "frequency"] {
            #expect(theirs[point] != nil && theirs[point] == ours[point], "\(point): PyPI dlt645 \(theirs[point].map { "\($0)" } ?? "nil"), agent \(ours[point].map { "\($0)" } ?? "nil")")
        }
        // The PyPI master reads power as kW; the profile scales it to W.
        #expect(theirs["power.active.total"].map { $0 * 1000 } == ours["power.active.total"])
    }

    @Test func pythonDlt645MasterFindsTheAddressAndReadsOurSimulator() throws {
        // python-dlt645 reads a frame up to the first byte 16 and drops every FE: pick an energy
        // value whose reply frame has neither inside, so the test checks values, not that limit.
        let address = try DLT645Address("000000000777")
        let request = DLT645Request.read(.forwardActiveEnergy, from: address)
        let energy = try #require((0..<50).map { 1000.0 + Double($0) * 1.11 }.first { value in
            let payload = try DLT645ValueFormat.bcd(digits: 8, decimals: 2, signed: false)
                .encode(ExactDecimal(significand: Int64((value * 100).rounded()), exponent: -2))
            let frame = try DLT645Reply.readReply(to: request, from: address, payload: payload).encoded(preamble: 0)
            return !frame.dropLast().contains(0x16) && !frame.contains(0xFE)
        })
        let sim = try Simulator(scenario: """
            lines:
              - id: dlt
                protocol: dlt645
                baud: 9600
                devices:
                  - {address: "000000000777", profile: dlt645-2007-generic, model: electricity, set: {power.active.total: 0, energy.import.total: \(energy)}}

            """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let peer = try runCommand(Self.pydlt645Python, [Paths.interopScript("pydlt645_read.py"), pty, "00010000"], timeout: 60)
        #expect(peer.status == 0, "\(peer.stdout) \(peer.stderr)")
        #expect(peer.stdout.contains("address=000000000777"), "python-dlt645 reverses the wire address to the written one: \(peer.stdout)")
        let digits = String(format: "%08d", Int((energy * 100).rounded()))
        #expect(peer.stdout.contains("00010000=\(digits) control=91"), "\(peer.stdout)")
        let site = try writeSite("""
            gateway: gw-dlt-interop
            buses: [{id: dlt, type: serial, port: \(pty), baud: 9600, parity: none, protocol: dlt645, timeout_ms: 400}]
            devices: [{id: meter, bus: dlt, address: "000000000777", profile: dlt645-2007-generic}]
            """, in: try Paths.temporaryDirectory())
        #expect(try agentRead(site, "meter", ["energy.import.total"])["energy.import.total"] == Double(digits)! / 100)
    }
}
