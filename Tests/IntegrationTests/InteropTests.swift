import Foundation
import Testing

/// Cross-checks against Modbus stacks no one here wrote: pymodbus (server and client) and mbpoll.
/// Our simulator shares code with our drivers; these peers catch a bug both sides would share.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct InteropTests {
    static let sdm630Points = [
        "voltage.l1", "voltage.l2", "voltage.l3", "current.l1", "current.l2", "current.l3",
        "power.active.l1", "power.active.l2", "power.active.l3", "power.active.total", "power_factor.total",
        "frequency", "energy.import.total", "energy.export.total", "energy.total",
    ]

    /// Starts the pymodbus SDM630 meter and returns it with the values it serves.
    func startPymodbusMeter(_ arguments: [String]) throws -> (ChildProcess, [String: Double]) {
        let meter = try ChildProcess(Paths.python, [Paths.interopScript("pymodbus_meter.py")] + arguments + ["--seconds=60"])
        let json = try meter.waitForLine(timeout: 30) { $0.hasPrefix("{") }
        try meter.waitForLine(timeout: 30) { $0 == "ready" }
        let values = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Double]
        return (meter, values)
    }

    func expectAgentReads(_ site: String, device: String, served: [String: Double]) throws {
        let result = try runCommand(Paths.meteragent, ["read", site, device, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let readings = jsonLines(result.stdout)
        #expect(readings.count == Self.sdm630Points.count)
        for reading in readings {
            let point = reading["point"] as! String
            let expected = try #require(served[point], "pymodbus serves no \(point)")
            #expect(reading["quality"] as? String == "good")
            #expect(reading["value"] as? Double == expected, "\(point): agent \(reading["value"] ?? "nil"), pymodbus \(expected)")
        }
    }

    @Test func agentReadsAPymodbusServerOverTCP() throws {
        let port = 20000 + Int.random(in: 0..<20000)
        let (meter, served) = try startPymodbusMeter(["tcp", String(port), "3"])
        defer { meter.stop() }
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite("""
            gateway: gw-interop
            buses: [{id: peer, type: tcp, host: 127.0.0.1, port: \(port), timeout_ms: 2000}]
            devices: [{id: sdm630, bus: peer, unit: 3, profile: eastron-sdm630}]
            """, in: dir)
        try expectAgentReads(site, device: "sdm630", served: served)
    }

    @Test func agentReadsAPymodbusServerOverRTUOnASocatPtyPair() throws {
        let dir = try Paths.temporaryDirectory()
        let (socat, meterEnd, agentEnd) = try socatPtyPair(in: dir)
        defer { socat.stop() }
        let (meter, served) = try startPymodbusMeter(["rtu", meterEnd, "5"])
        defer { meter.stop() }
        let site = try writeSite("""
            gateway: gw-interop
            buses: [{id: line, type: serial, port: \(agentEnd), baud: 9600, parity: none, timeout_ms: 2000, retries: 1}]
            devices: [{id: sdm630, bus: line, unit: 5, profile: eastron-sdm630}]
            """, in: dir)
        try expectAgentReads(site, device: "sdm630", served: served)
    }

    /// pymodbus's client, mbpoll and the agent read the same simulated meter and agree.
    @Test func pymodbusAndMbpollReadMetersimLikeTheAgent() throws {
        let sim = try Simulator(scenario: """
            lines:
              - id: rs485
                baud: 9600
                devices:
                  - {unit: 4, profile: eastron-sdm120, model: electricity}
                  - {unit: 9, profile: tuf2000m-water, model: water}
            tcp:
              - {id: plant, port: 0, devices: [{unit: 1, profile: eastron-sdm630, model: electricity}]}

            """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let port = try #require(sim.tcpPorts.first)
        for command in ["set rs485 4 voltage.l1 232.75", "set rs485 9 flow.rate 36.625", "set rs485 9 volume.total 123456",
                        "set plant 1 voltage.l2 229.125", "set plant 1 frequency 50.0625"] {
            #expect(try sim.control(command).contains("ok"))
        }
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite("""
            gateway: gw-interop
            buses:
              - {id: rs485, type: serial, port: \(pty), baud: 9600, timeout_ms: 1000}
              - {id: plant, type: tcp, host: 127.0.0.1, port: \(port)}
            devices:
              - {id: elec, bus: rs485, unit: 4, profile: eastron-sdm120}
              - {id: water, bus: rs485, unit: 9, profile: tuf2000m-water}
              - {id: main, bus: plant, unit: 1, profile: eastron-sdm630}
            """, in: dir)

        func agent(_ device: String, _ point: String) throws -> Double {
            let out = try runCommand(Paths.meteragent, ["read", site, device, point, "--json"]).stdout
            return try #require(jsonLines(out).first?["value"] as? Double, "agent read \(device) \(point): \(out)")
        }
        func pymodbus(_ args: [String]) throws -> Double {
            let r = try runCommand(Paths.python, [Paths.interopScript("pymodbus_read.py")] + args)
            return try #require(Double(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "pymodbus: \(r.stdout) \(r.stderr)")
        }
        func mbpoll(_ args: [String]) throws -> Double {
            let r = try runCommand("/usr/bin/mbpoll", args + ["-1", "-q"])
            let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("[") }, "mbpoll: \(r.stdout) \(r.stderr)")
            return try #require(Double(line.split(separator: "\t").last!.trimmingCharacters(in: .whitespaces)))
        }

        // RTU on the simulator's pty: SDM120 voltage (input, ABCD) and TUF-2000M (holding, CDAB).
        let voltage = try agent("elec", "voltage.l1")
        #expect(voltage == 232.75)
        #expect(try pymodbus(["rtu", pty, "4", "input", "0", "f32"]) == voltage)
        #expect(try mbpoll(["-m", "rtu", "-b", "9600", "-P", "none", "-a", "4", "-t", "3:float", "-B", "-r", "1", "-c", "1", pty]) == voltage)
        let flow = try agent("water", "flow.rate")
        #expect(flow == 36.625)
        #expect(try pymodbus(["rtu", pty, "9", "holding", "0", "f32", "CDAB"]) == flow)
        #expect(try mbpoll(["-m", "rtu", "-b", "9600", "-P", "none", "-a", "9", "-t", "4:float", "-r", "1", "-c", "1", pty]) == flow,
                "mbpoll's default float order is low word first, the TUF-2000M's CDAB")
        let total = try agent("water", "volume.total")
        #expect(total == 123456)
        #expect(try pymodbus(["rtu", pty, "9", "holding", "24", "i32", "CDAB"]) == total)

        // TCP: SDM630.
        let v2 = try agent("main", "voltage.l2")
        #expect(v2 == 229.125)
        #expect(try pymodbus(["tcp", "127.0.0.1:\(port)", "1", "input", "2", "f32"]) == v2)
        #expect(try mbpoll(["-m", "tcp", "-p", String(port), "-a", "1", "-t", "3:float", "-B", "-r", "3", "-c", "1", "127.0.0.1"]) == v2)
        let hz = try agent("main", "frequency")
        #expect(hz == 50.0625)
        #expect(try pymodbus(["tcp", "127.0.0.1:\(port)", "1", "input", "0x46", "f32"]) == hz)
        #expect(try mbpoll(["-m", "tcp", "-p", String(port), "-a", "1", "-t", "3:float", "-B", "-r", "71", "-c", "1", "127.0.0.1"]) == hz)
    }
}
