import Foundation
import Testing

/// The agent, as separate processes, against `metersim` on a pty line and on TCP.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SimulatedMeterTests {
    static let scenario = """
    lines:
      - id: rs485
        baud: 9600
        devices:
          - {unit: 1, profile: eastron-sdm120, model: electricity, seed: 11}
          - {unit: 2, profile: eastron-sdm120, model: electricity, seed: 12}
          - {unit: 10, profile: tuf2000m-water, model: water}
          - {unit: 20, profile: generic-modbus-gas, model: gas}
    tcp:
      - id: plant
        port: 0
        devices:
          - {unit: 1, profile: eastron-sdm630, model: electricity}
          - {unit: 2, profile: generic-modbus-gas, model: gas}

    """

    static func site(pty: String, tcpPort: Int, extraDevices: String = "") -> String {
        """
        gateway: gw-it
        buses:
          - {id: rs485, type: serial, port: \(pty), baud: 9600, parity: none, timeout_ms: 400, retries: 0}
          - {id: plant, type: tcp, host: 127.0.0.1, port: \(tcpPort), timeout_ms: 1000}
        devices:
          - {id: elec-1, bus: rs485, unit: 1, profile: eastron-sdm120, poll_interval: 1s}
          - {id: elec-2, bus: rs485, unit: 2, profile: eastron-sdm120, poll_interval: 1s}
          - {id: water, bus: rs485, unit: 10, profile: tuf2000m-water, poll_interval: 1s}
          - {id: gas, bus: rs485, unit: 20, profile: generic-modbus-gas, poll_interval: 1s}
          - {id: main, bus: plant, unit: 1, profile: eastron-sdm630, poll_interval: 1s}
          - {id: gas-tcp, bus: plant, unit: 2, profile: generic-modbus-gas, poll_interval: 1s}
        \(extraDevices)
        """
    }

    /// Reads one device with `meteragent read --json` and returns point → reading.
    func read(_ site: String, _ device: String) throws -> [String: [String: Any]] {
        let result = try runCommand(Paths.meteragent, ["read", site, device, "--json"])
        var byPoint: [String: [String: Any]] = [:]
        for reading in jsonLines(result.stdout) { byPoint[reading["point"] as! String] = reading }
        #expect(!byPoint.isEmpty, "no readings from \(device): \(result.stderr)")
        return byPoint
    }

    @Test func readsEveryMeterOverRTUAndTCPWithValuesOfTheSimulator() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let port = try #require(sim.tcpPorts.first)
        // Pin values exactly representable in the registers' types, so both sides must agree to the bit.
        // Active power and gas flow are pinned too: the load curve's jitter and the burner switching
        // on can move them by more than the tolerance between the agent's read and the state query
        // on a busy machine.
        let pins: [(String, Int, String, String)] = [
            ("rs485", 1, "power.active.total", "1500"), ("rs485", 2, "power.active.total", "750"),
            ("plant", 1, "power.active.total", "9000"), ("plant", 2, "flow.rate", "1.25"),
            ("rs485", 1, "voltage.l1", "231.5"), ("rs485", 1, "frequency", "49.875"),
            ("rs485", 2, "voltage.l1", "228.25"), ("rs485", 2, "current.l1", "7.125"),
            ("rs485", 10, "flow.rate", "2.5"), ("rs485", 10, "volume.total", "4711"),
            ("rs485", 20, "volume.total", "98765.432"), ("rs485", 20, "valve.state", "0"),
            ("plant", 1, "voltage.l3", "229.75"), ("plant", 1, "current.l2", "12.5"),
            ("plant", 2, "pressure", "2.25"),
        ]
        for (line, unit, point, value) in pins {
            #expect(try sim.control("set \(line) \(unit) \(point) \(value)").contains("ok"))
        }
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite(Self.site(pty: pty, tcpPort: port), in: dir)

        let devices: [(String, String, Int)] = [("elec-1", "rs485", 1), ("elec-2", "rs485", 2), ("water", "rs485", 10),
                                                ("gas", "rs485", 20), ("main", "plant", 1), ("gas-tcp", "plant", 2)]
        for (device, line, unit) in devices {
            let readings = try read(site, device)
            let state = try sim.state(line, unit)
            #expect(readings.count == state.count, "\(device): \(readings.count) readings, simulator has \(state.count) points")
            for (point, reading) in readings {
                #expect(reading["quality"] as? String == "good", "\(device) \(point): \(reading)")
                guard let expected = state[point] else {
                    Issue.record("\(device): simulator has no point \(point)")
                    continue
                }
                let value: Double = (reading["value"] as? Double) ?? ((reading["value"] as? Bool).map { $0 ? 1 : 0 } ?? .nan)
                // Unpinned values move between the read and the state query (noise, integration).
                let tolerance = max(abs(expected) * 0.05, 0.5)
                #expect(abs(value - expected) <= tolerance, "\(device) \(point): agent \(value), simulator \(expected)")
            }
        }
        for (line, unit, point, value) in pins {
            let device = devices.first { $0.1 == line && $0.2 == unit }!.0
            let reading = try #require(try read(site, device)[point])
            let got = (reading["value"] as? Double) ?? ((reading["value"] as? Bool).map { $0 ? 1 : 0 } ?? .nan)
            #expect(got == Double(value)!, "\(device) \(point): agent \(got), pinned \(value)")
        }
        // Billing registers that are scaled integers arrive as exact decimals, digit for digit.
        let gasLine = try runCommand(Paths.meteragent, ["read", site, "gas", "volume.total", "--json"]).stdout
        #expect(gasLine.contains("\"value\":98765.432,"), "\(gasLine)")
    }

    @Test func deadMeterOnASharedLineDoesNotStopTheOthers() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let port = try #require(sim.tcpPorts.first)
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite(Self.site(pty: pty, tcpPort: port, extraDevices:
            "  - {id: dead, bus: rs485, unit: 7, profile: eastron-sdm120, poll_interval: 1s}"), in: dir)
        let agent = try ChildProcess(Paths.meteragent, ["run", site, "--duration", "8"])
        #expect(agent.wait(timeout: 30) == 0, "\(agent.stderr)")
        let readings = jsonLines(agent.stdout)
        func cycles(_ device: String) -> Int {
            Set(readings.filter { $0["device"] as? String == device && $0["quality"] as? String == "good" }.map { $0["ts"] as! Int }).count
        }
        // Polled once a second for 8 s: a meter that keeps its schedule gets at least 6 good cycles.
        for device in ["elec-1", "elec-2", "water", "gas", "main"] {
            #expect(cycles(device) >= 6, "\(device): \(cycles(device)) good cycles in 8 s")
        }
        let dead = readings.filter { $0["device"] as? String == "dead" }
        #expect(!dead.isEmpty, "the dead meter must still yield readings, with a bad quality")
        #expect(dead.allSatisfy { ["timeout", "backoff"].contains($0["quality"] as? String) && $0["value"] is NSNull })
        #expect(dead.contains { $0["quality"] as? String == "backoff" }, "a dead meter backs off instead of holding the line")
    }

    @Test func faultsBecomeReadingQualitiesNotCrashes() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let port = try #require(sim.tcpPorts.first)
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite(Self.site(pty: pty, tcpPort: port), in: dir)

        let cases: [(fault: String, line: String, unit: Int, device: String, quality: String)] = [
            ("bad_crc on", "rs485", 2, "elec-2", "crc_error"),
            ("exception 4", "rs485", 2, "elec-2", "exception(4)"),
            ("no_reply on", "rs485", 2, "elec-2", "timeout"),
            ("exception 2", "plant", 1, "main", "exception(2)"),
        ]
        for c in cases {
            #expect(try sim.control("fault \(c.line) \(c.unit) clear").contains("ok"))
            #expect(try sim.control("fault \(c.line) \(c.unit) \(c.fault)").contains("ok"))
            let result = try runCommand(Paths.meteragent, ["read", site, c.device, "--json"])
            #expect(result.status == 1, "a bad reading exits 1: \(result.stderr)")
            let qualities = Set(jsonLines(result.stdout).map { $0["quality"] as? String ?? "?" })
            #expect(qualities == [c.quality], "\(c.fault): \(qualities)")
            // The neighbour on the same line is unaffected.
            let neighbour = c.line == "rs485" ? "elec-1" : "gas-tcp"
            let other = try runCommand(Paths.meteragent, ["read", site, neighbour, "--json"])
            #expect(other.status == 0 && jsonLines(other.stdout).allSatisfy { $0["quality"] as? String == "good" }, "\(other.stdout)")
            #expect(try sim.control("fault \(c.line) \(c.unit) clear").contains("ok"))
        }
        // Garbage on the line is survived: the read fails or succeeds, but the agent answers.
        #expect(try sim.control("fault rs485 2 garbage on").contains("ok"))
        let garbled = try runCommand(Paths.meteragent, ["read", site, "elec-2", "--json"])
        #expect([0, 1].contains(garbled.status), "\(garbled.stderr)")
        #expect(jsonLines(garbled.stdout).count == 10)
    }
}
