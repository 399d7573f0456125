import Foundation
import Testing

/// The agent, as a separate process, against simulated CJ/T 188 water and gas meters on one pty
/// line (`metersim`, `protocol: cjt188`).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CJT188Tests {
    /// A cold-water meter, a gas meter that only answers DI low byte first (the profile says high
    /// first, so the driver must find the other order), a hot-water meter, and a dead meter.
    static let scenario = """
    lines:
      - id: mbus
        protocol: cjt188
        baud: 9600
        devices:
          - {address: "00000000001234", profile: cjt188-water-cold, model: water, seed: 3}
          - {address: "00000012345678", profile: cjt188-gas, model: gas, di_order: low_first, seed: 4}
          - {address: "20240000000011", profile: cjt188-water-hot, model: water, seed: 5}
          - {address: "00000000000099", profile: cjt188-water-cold, model: water, faults: {no_reply: on}}

    """

    static func site(pty: String) -> String {
        """
        gateway: gw-cn-it
        buses:
          - {id: mbus, type: serial, port: \(pty), baud: 9600, parity: none, protocol: cjt188, timeout_ms: 400, retries: 0}
        devices:
          - {id: water, bus: mbus, address: "00000000001234", profile: cjt188-water-cold, poll_interval: 1s}
          - {id: gas, bus: mbus, address: "00000012345678", profile: cjt188-gas, poll_interval: 1s}
          - {id: hot, bus: mbus, address: "20240000000011", profile: cjt188-water-hot, poll_interval: 1s}
        """
    }

    static let deadDevice = "  - {id: dead, bus: mbus, address: \"00000000000099\", profile: cjt188-water-cold, poll_interval: 1s}\n"

    /// Units on the simulated line, in scenario order.
    static let units = ["water": 1, "gas": 2, "hot": 3, "dead": 4]

    struct Setup {
        let sim: Simulator
        let site: String
    }

    func start(extra: String = "") throws -> Setup {
        let sim = try Simulator(scenario: Self.scenario)
        let pty = try #require(sim.lines["mbus"])
        let dir = try Paths.temporaryDirectory()
        let site = try writeSite(Self.site(pty: pty) + "\n" + extra, in: dir)
        return Setup(sim: sim, site: site)
    }

    /// `meteragent read … --json` as point → reading, plus the exit status and raw output.
    func read(_ site: String, _ device: String) throws -> (readings: [String: [String: Any]], status: Int32, stdout: String) {
        let result = try runCommand(Paths.meteragent, ["read", site, device, "--json"])
        var byPoint: [String: [String: Any]] = [:]
        for reading in jsonLines(result.stdout) { byPoint[reading["point"] as! String] = reading }
        #expect(!byPoint.isEmpty, "no readings from \(device): \(result.stderr)")
        return (byPoint, result.status, result.stdout)
    }

    static func number(_ reading: [String: Any]?) -> Double {
        guard let value = reading?["value"] else { return .nan }
        if let b = value as? Bool { return b ? 1 : 0 }
        return (value as? Double) ?? .nan
    }

    @Test func readsWaterAndGasMetersWithTheValuesOfTheSimulator() throws {
        let setup = try start()
        defer { setup.sim.stop() }
        let sim = setup.sim
        // Freeze the totals at values a 4-byte BCD XXXXXX.XX register holds exactly.
        let pins: [(String, String, String)] = [
            ("water", "flow.rate", "0"), ("water", "volume.total", "1234.56"), ("water", "volume.settlement", "1200"),
            ("gas", "flow.rate", "0"), ("gas", "volume.total", "98765.43"), ("gas", "volume.settlement", "98000.5"),
            ("hot", "flow.rate", "0"), ("hot", "volume.total", "42.07"),
        ]
        for (device, point, value) in pins {
            #expect(try sim.control("set mbus \(Self.units[device]!) \(point) \(value)").contains("ok"))
        }
        for device in ["water", "gas", "hot"] {
            let (readings, status, _) = try read(setup.site, device)
            #expect(status == 0, "\(device) read failed")
            let state = try sim.state("mbus", Self.units[device]!)
            #expect(readings.count == state.count, "\(device): \(readings.keys.sorted()) vs \(state.keys.sorted())")
            for (point, reading) in readings {
                #expect(reading["quality"] as? String == "good", "\(device) \(point): \(reading)")
                if point == "meter.clock" { continue }
                let expected = try #require(state[point], "\(device): simulator has no point \(point)")
                #expect(Self.number(reading) == expected, "\(device) \(point): agent \(Self.number(reading)), simulator \(expected)")
            }
            // The meter clock is the simulator's time in UTC+8 as YYYYMMDDhhmmss.
            let clock = Int64(Self.number(readings["meter.clock"]))
            var now = time_t(Date().timeIntervalSince1970) + 8 * 3600
            var parts = tm()
            gmtime_r(&now, &parts)
            #expect(clock / 10_000_000_000 == Int64(parts.tm_year) + 1900, "meter.clock \(clock)")
            #expect(clock / 1_000_000 % 100 == Int64(parts.tm_mday) || clock % 1_000_000 < 100, "meter.clock \(clock)")
        }
        // Billing totals keep the meter's digits, unit from the meter's unit code.
        let gas = try read(setup.site, "gas").stdout
        #expect(gas.contains("\"point\":\"volume.total\",\"value\":98765.43,\"unit\":\"m³\""), "\(gas)")
        #expect(gas.contains("\"point\":\"volume.settlement\",\"value\":98000.50,"), "\(gas)")
        let water = try read(setup.site, "water").stdout
        #expect(water.contains("\"value\":1234.56,"), "\(water)")
    }

    @Test func valveCloseStopsTheFlowAndTheReadBackConfirmsIt() throws {
        let setup = try start()
        defer { setup.sim.stop() }
        let sim = setup.sim
        // 360 m³/h = 0.1 m³ a second: visible in hundredths within a second.
        #expect(try sim.control("set mbus 1 flow.rate 360").contains("ok"))
        func total() throws -> Double { Self.number(try read(setup.site, "water").readings["volume.total"]) }
        let t1 = try total()
        Thread.sleep(forTimeInterval: 1.0)
        let t2 = try total()
        #expect(t2 > t1, "water flows while the valve is open: \(t1) → \(t2)")

        let close = try runCommand(Paths.meteragent, ["valve", setup.site, "water", "close"])
        #expect(close.status == 0, "\(close.stdout) \(close.stderr)")
        #expect(close.stdout.contains("valve.close: confirmed"), "\(close.stdout)")
        #expect(close.stdout.contains("valve.state") && close.stdout.contains("false"), "read-back shown: \(close.stdout)")
        #expect(try sim.state("mbus", 1)["valve.state"] == 0)

        let t3 = try total()
        Thread.sleep(forTimeInterval: 1.0)
        let t4 = try total()
        #expect(t4 == t3, "a closed valve stops the flow: \(t3) → \(t4)")
        #expect(Self.number(try read(setup.site, "water").readings["valve.state"]) == 0)

        let open = try runCommand(Paths.meteragent, ["valve", setup.site, "water", "open", "--json"])
        #expect(open.status == 0, "\(open.stdout) \(open.stderr)")
        let outcome = try #require(jsonLines(open.stdout).first)
        #expect(outcome["status"] as? String == "confirmed")
        #expect(outcome["command"] as? String == "valve.open")
        let observed = try #require(outcome["observed"] as? [[String: Any]])
        #expect(observed.contains { $0["point"] as? String == "valve.state" && Self.number($0) == 1 }, "\(observed)")
        #expect(try sim.state("mbus", 1)["valve.state"] == 1)

        // The gas meter (which wants the other DI order) closes the same way.
        let gas = try runCommand(Paths.meteragent, ["valve", setup.site, "gas", "close"])
        #expect(gas.status == 0, "\(gas.stdout) \(gas.stderr)")
        #expect(try sim.state("mbus", 2)["valve.state"] == 0)
    }

    @Test func lowBatteryAndValveFaultFlagsShowUp() throws {
        let setup = try start()
        defer { setup.sim.stop() }
        let sim = setup.sim
        let before = try read(setup.site, "gas").readings
        #expect(Self.number(before["battery.low"]) == 0 && Self.number(before["valve.fault"]) == 0)
        // By meter address as well as by unit.
        #expect(try sim.control("set mbus 00000012345678 battery.low 1").contains("ok"))
        #expect(try sim.control("set mbus 2 valve.fault 1").contains("ok"))
        let after = try read(setup.site, "gas").readings
        #expect(Self.number(after["battery.low"]) == 1)
        #expect(Self.number(after["valve.fault"]) == 1)
        #expect(Self.number(after["valve.state"]) == 0, "an abnormal valve is not open")
        // A faulty valve does not move: the command is taken but the read-back does not confirm it.
        let close = try runCommand(Paths.meteragent, ["valve", setup.site, "gas", "close", "--json"])
        #expect(close.status == 1, "\(close.stdout)")
        let outcome = try #require(jsonLines(close.stdout).first)
        #expect(outcome["status"] as? String == "accepted")
        #expect((outcome["message"] as? String ?? "").contains("valve fault"), "\(outcome)")
        // The water meter next to it is unaffected.
        let water = try read(setup.site, "water").readings
        #expect(Self.number(water["battery.low"]) == 0 && Self.number(water["valve.fault"]) == 0)
    }

    @Test func aSilentMeterOnTheLineDoesNotStopTheOthers() throws {
        let setup = try start(extra: Self.deadDevice)
        defer { setup.sim.stop() }
        let dead = try read(setup.site, "dead")
        #expect(dead.status == 1)
        #expect(dead.readings.values.allSatisfy { $0["quality"] as? String == "timeout" && $0["value"] is NSNull })

        let agent = try ChildProcess(Paths.meteragent, ["run", setup.site, "--duration", "8"])
        #expect(agent.wait(timeout: 40) == 0, "\(agent.stderr)")
        let readings = jsonLines(agent.stdout)
        func cycles(_ device: String) -> Int {
            Set(readings.filter { $0["device"] as? String == device && $0["quality"] as? String == "good" }.map { $0["ts"] as! Int }).count
        }
        // Polled once a second for 8 s: a meter that keeps its schedule gets at least 6 good cycles.
        for device in ["water", "gas", "hot"] {
            #expect(cycles(device) >= 6, "\(device): \(cycles(device)) good cycles in 8 s")
        }
        let deadReadings = readings.filter { $0["device"] as? String == "dead" }
        #expect(!deadReadings.isEmpty)
        #expect(deadReadings.allSatisfy { ["timeout", "backoff"].contains($0["quality"] as? String) })
        #expect(deadReadings.contains { $0["quality"] as? String == "backoff" }, "a dead meter backs off instead of holding the line")
    }

    @Test func faultsBecomeReadingQualities() throws {
        let setup = try start()
        defer { setup.sim.stop() }
        let sim = setup.sim
        let cases: [(fault: String, quality: String)] = [
            ("bad_crc on", "crc_error"),
            ("exception 4", "meter_error(4)"),
            ("wrong_unit on", "timeout"),   // a reply from another address is not ours
            ("no_reply on", "timeout"),
        ]
        for c in cases {
            #expect(try sim.control("fault mbus 1 clear").contains("ok"))
            #expect(try sim.control("fault mbus 1 \(c.fault)").contains("ok"))
            let (readings, status, _) = try read(setup.site, "water")
            #expect(status == 1, "\(c.fault): a bad reading exits 1")
            #expect(Set(readings.values.map { $0["quality"] as? String ?? "?" }) == [c.quality], "\(c.fault): \(readings)")
            let hot = try read(setup.site, "hot")
            #expect(hot.status == 0, "\(c.fault): the neighbour must still read")
        }
        // Garbage before the reply and a slow reply within the timeout are survived.
        for fault in ["garbage on", "delay_ms 150"] {
            #expect(try sim.control("fault mbus 1 clear").contains("ok"))
            #expect(try sim.control("fault mbus 1 \(fault)").contains("ok"))
            let (readings, status, _) = try read(setup.site, "water")
            #expect(status == 0, "\(fault): \(readings)")
        }
    }

    @Test func probeFindsTheAddressOfTheOnlyMeterThenReadsIt() throws {
        let sim = try Simulator(scenario: """
            lines:
              - id: one
                protocol: cjt188
                baud: 9600
                devices:
                  - {address: "00000012345678", profile: cjt188-gas, model: gas, di_order: low_first, seed: 4}

            """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["one"])
        let state = try sim.state("one", 1)
        let found = try probe(pty, profile: "cjt188-gas", ["--json"])
        #expect(found.status == 0, "\(found.stdout) \(found.stderr)")
        #expect(found.stdout.contains("address 00000012345678 (meter type gas"), "\(found.stdout)")
        let total = jsonLines(found.stdout).first { $0["point"] as? String == "volume.total" }
        let value = try #require(total?["value"] as? Double, "\(found.stdout)")
        #expect(abs(value - (state["volume.total"] ?? -1)) < 1, "the simulator's total \(state)")
        let wrong = try probe(pty, profile: "cjt188-gas", ["--address", "00000012345699", "--timeout-ms", "200"])
        #expect(wrong.status == 1 && wrong.stderr.contains("meter 00000012345699 on \(pty): timeout"), "\(wrong.stderr)")
    }
}
