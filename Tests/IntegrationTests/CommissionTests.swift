import Foundation
import Testing

/// `meteragent commission` against `metersim`: a factory-fresh meter on a line with others gets
/// its own unit id and a new rate (and `scan` finds it there), two meters at the factory unit are
/// refused, and a DL/T 645 meter gets a new address and rate.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CommissionTests {
    /// A line at 9600 8N1: the new SDM630 still at the factory unit 1, two meters already commissioned.
    static let scenario = """
    lines:
      - id: rs485
        baud: 9600
        devices:
          - {unit: 1, profile: eastron-sdm630, model: electricity, seed: 31}
          - {unit: 2, profile: eastron-sdm120, model: electricity, seed: 32}
          - {unit: 3, profile: eastron-sdm630, model: electricity, seed: 33}

    """

    static func commission(_ pty: String, _ options: [String]) throws -> ChildProcess {
        try ChildProcess(Paths.meteragent, ["commission", "--port", pty, "--profiles", Paths.profiles, "--timeout-ms", "400"] + options)
    }

    /// The site-config lines the command printed, from `buses:` on.
    static func entry(_ stdout: String) -> String {
        guard let start = stdout.range(of: "buses:\n") else { return "" }
        return String(stdout[start.lowerBound...])
    }

    /// `config validate` accepts the printed entry and `run --once` reads every point of it.
    static func checkEntry(_ entry: String, device: String) throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let site = try writeSite("gateway: gw-commission\n" + entry, in: dir)
        let validate = try runCommand(Paths.meteragent, ["config", "validate", site])
        #expect(validate.status == 0, "\(validate.stderr)\n\(entry)")
        let run = try runCommand(Paths.meteragent, ["run", site, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        let readings = jsonLines(run.stdout).filter { $0["device"] as? String == device }
        #expect(!readings.isEmpty, "no readings of \(device): \(run.stdout)\n\(run.stderr)")
        #expect(readings.allSatisfy { $0["quality"] as? String == "good" }, "\(readings)")
    }

    @Test func movesAFactoryFreshMeterToANewUnitAndRate() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let before2 = try sim.state("rs485", 2), before3 = try sim.state("rs485", 3)
        let child = try Self.commission(pty, ["--profile", "eastron-sdm630", "--unit", "1", "--baud", "9600", "--parity", "none",
                                              "--new-unit", "7", "--new-baud", "19200", "--restart-wait", "30"])
        // The SDM630 takes its new settings when switched off and on: the command says so and waits.
        _ = try child.waitForLine(timeout: 20) { $0.contains("switch it off and on again") }
        #expect(child.stdout.contains("wrote baud = 19200 (register 0x001C, unit 1, 9600 8N1)"), "\(child.stdout)")
        #expect(child.stdout.contains("wrote unit_id = 7 (register 0x0014, unit 1, 9600 8N1)"), "\(child.stdout)")
        #expect(try sim.control("restart rs485 1").contains("ok"))
        #expect(child.wait(timeout: 60) == 0, "\(child.stdout)\n\(child.stderr)")

        // The simulator's meter now sits at unit 7 and holds what was written.
        let state = try sim.control("state rs485 7")
        #expect(state.contains("settings.unit_id=7") && state.contains("settings.baud=19200"), "\(state)")
        #expect(try sim.control("list").contains("rs485 7 eastron-sdm630"))
        // Nothing answers at the factory unit any more; the other meters are where they were.
        #expect(try probe(pty, profile: "eastron-sdm630", ["--unit", "1", "--timeout-ms", "300"]).status == 1)
        #expect(try probe(pty, profile: "eastron-sdm120", ["--unit", "2"]).status == 0)
        #expect(try probe(pty, profile: "eastron-sdm630", ["--unit", "3"]).status == 0)
        #expect(try sim.control("state rs485 2").contains("settings.") == false)
        #expect(try sim.state("rs485", 2)["energy.import.total"]! >= before2["energy.import.total"]!)
        #expect(try sim.state("rs485", 3)["energy.import.total"]! >= before3["energy.import.total"]!)

        // `scan` finds it there, and the others where they were.
        let scan = try runCommand(Paths.meteragent, ["scan", "--port", pty, "--bauds", "9600,19200", "--parity", "none", "--units", "1-8",
                                                     "--protocols", "modbus", "--turnaround-ms", "30", "--profiles", Paths.profiles], timeout: 120)
        #expect(scan.status == 0, "\(scan.stderr)")
        let found = scan.stdout.split(separator: "\n").filter { $0.hasPrefix("found ") }.map(String.init)
        #expect(found == [
            "found modbus unit 2 at 9600 8N1: Eastron SDM120 (profile eastron-sdm120)",
            "found modbus unit 3 at 9600 8N1: Eastron SDM630 (profile eastron-sdm630)",
            "found modbus unit 7 at 19200 8N1: Eastron SDM630 (profile eastron-sdm630)",
        ], "\(scan.stdout)")
        // It really moved to 19200: at the line's old rate it hears only noise.
        #expect(try probe(pty, profile: "eastron-sdm630", ["--unit", "7", "--timeout-ms", "300"]).status == 1)

        let entry = Self.entry(child.stdout)
        #expect(entry.contains("{id: rs485, type: serial, port: \(pty), baud: 19200, parity: none}"), "\(child.stdout)")
        #expect(entry.contains("{id: meter-7, bus: rs485, unit: 7, profile: eastron-sdm630}"), "\(child.stdout)")
        try Self.checkEntry(entry, device: "meter-7")
    }

    @Test func refusesWhenTwoMetersAnswerAtTheFactoryUnit() throws {
        let sim = try Simulator(scenario: """
        lines:
          - id: rs485
            baud: 9600
            devices:
              - {unit: 1, profile: eastron-sdm630, model: electricity, seed: 41}
              - {unit: 1, profile: eastron-sdm630, model: electricity, seed: 42}
              - {unit: 5, profile: eastron-sdm120, model: electricity, seed: 43}

        """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let child = try Self.commission(pty, ["--profile", "eastron-sdm630", "--new-unit", "7", "--new-baud", "19200"])
        #expect(child.wait(timeout: 30) == 1, "\(child.stdout)\n\(child.stderr)")
        #expect(child.stderr.contains("more than one meter answers at unit 1"), "\(child.stderr)")
        #expect(child.stderr.contains("Nothing was written"), "\(child.stderr)")
        #expect(!child.stdout.contains("wrote"), "\(child.stdout)")
        // Both meters are still factory-fresh: nothing was written to either.
        let listing = try sim.control("list").split(separator: "\n").filter { $0.hasPrefix("rs485 ") }
        #expect(listing.filter { $0.hasPrefix("rs485 1 eastron-sdm630") }.count == 2, "\(listing)")
        #expect(try probe(pty, profile: "eastron-sdm630", ["--unit", "7", "--timeout-ms", "300"]).status == 1)
    }

    @Test func refusesANewUnitThatIsTaken() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["rs485"])
        let child = try Self.commission(pty, ["--profile", "eastron-sdm630", "--new-unit", "3"])
        #expect(child.wait(timeout: 30) == 1, "\(child.stdout)\n\(child.stderr)")
        #expect(child.stderr.contains("unit 3 is already taken"), "\(child.stderr)")
        #expect(try sim.control("state rs485 1").contains("settings.") == false)
    }

    static let dlt645Scenario = """
    lines:
      - id: dlt
        protocol: dlt645
        baud: 2400
        devices:
          - {address: "202612040001", profile: dlt645-2007-generic, model: electricity, seed: 51}

    """

    @Test func givesADLT645MeterANewAddressAndRate() throws {
        let sim = try Simulator(scenario: Self.dlt645Scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let child = try Self.commission(pty, ["--profile", "dlt645-2007-generic", "--baud", "2400", "--parity", "none",
                                              "--address", "202612040001", "--new-address", "202612040107", "--new-baud", "9600",
                                              "--bus-id", "dlt-line"])
        #expect(child.wait(timeout: 60) == 0, "\(child.stdout)\n\(child.stderr)")
        #expect(child.stdout.contains("wrote address 202612040107 (was 202612040001"), "\(child.stdout)")
        #expect(child.stdout.contains("wrote rate 9600"), "\(child.stdout)")
        #expect(try sim.control("list").contains("address=202612040107"))
        let entry = Self.entry(child.stdout)
        #expect(entry.contains("{id: dlt-line, type: serial, port: \(pty), baud: 9600, parity: none, protocol: dlt645}"), "\(child.stdout)")
        #expect(entry.contains("{id: meter-202612040107, bus: dlt-line, address: \"202612040107\", profile: dlt645-2007-generic}"), "\(child.stdout)")
        try Self.checkEntry(entry, device: "meter-202612040107")
        // A wrong nameplate address is refused before anything is written.
        let wrong = try Self.commission(pty, ["--profile", "dlt645-2007-generic", "--baud", "9600", "--parity", "none",
                                              "--address", "202612040001", "--new-address", "202612040108"])
        #expect(wrong.wait(timeout: 30) == 1)
        #expect(wrong.stderr.contains("is 202612040107, not 202612040001"), "\(wrong.stderr)")
        // Asked again for what it already has: nothing is written; --json gives one object on stdout.
        let again = try Self.commission(pty, ["--profile", "dlt645-2007-generic", "--baud", "9600", "--parity", "none",
                                              "--new-address", "202612040107", "--json"])
        #expect(again.wait(timeout: 30) == 0, "\(again.stderr)")
        let object = try #require(jsonLines(again.stdout).first, "\(again.stdout)")
        #expect(jsonLines(again.stdout).count == 1)
        #expect(object["address"] as? String == "202612040107" && object["baud"] as? Int == 9600, "\(object)")
        #expect(object["written"] as? [String] == ["nothing (already set)"], "\(object)")
        #expect((object["entry"] as? String)?.contains("address: \"202612040107\"") == true, "\(object)")
    }

    @Test func refusesADLT645LineWithTwoMeters() throws {
        let sim = try Simulator(scenario: """
        lines:
          - id: dlt
            protocol: dlt645
            baud: 2400
            devices:
              - {address: "202612040001", profile: dlt645-2007-generic, model: electricity, seed: 61}
              - {address: "202612040002", profile: dlt645-2007-generic, model: electricity, seed: 62}

        """)
        defer { sim.stop() }
        let pty = try #require(sim.lines["dlt"])
        let child = try Self.commission(pty, ["--profile", "dlt645-2007-generic", "--baud", "2400", "--parity", "none",
                                              "--new-address", "202612040107"])
        #expect(child.wait(timeout: 30) == 1, "\(child.stdout)\n\(child.stderr)")
        #expect(child.stderr.contains("more than one meter answers on \(pty) at 2400 8N1"), "\(child.stderr)")
        #expect(child.stderr.contains("Nothing was written"), "\(child.stderr)")
        let listing = try sim.control("list")
        #expect(listing.contains("address=202612040001") && listing.contains("address=202612040002"), "\(listing)")
    }

    /// A model that switches at once: the command follows it after each write. The profile sits in
    /// a profiles directory of its own (with copies of the shipped ones) that `metersim` reads too.
    static let afterReplyProfile = """
    manufacturer: Test
    model: After-reply meter
    medium: electricity
    serial: {baud: 9600}
    settings:
      unlock:   {register: 0x0200, value: 1234}
      unit_id:  {register: 0x0100}
      baud:     {register: 0x0101, codes: {9600: 3, 19200: 4}}
      ct_ratio: {register: 0x0102, range: [1, 5000]}
      apply:    {register: 0x0201, value: 1}
      takes_effect: after_reply
    defaults: {table: input, type: f32}
    points:
      - {name: voltage.l1, address: 0x0000, unit: V}
      - {name: energy.import.total, address: 0x0048, unit: kWh, billing: true}
    """

    @Test func followsAMeterThatSwitchesAtOnceThroughUnlockAndApply() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let profiles = dir.appendingPathComponent("profiles")
        try FileManager.default.copyItem(atPath: Paths.profiles, toPath: profiles.path)
        try Self.afterReplyProfile.write(to: profiles.appendingPathComponent("test-after-reply.yaml"), atomically: true, encoding: .utf8)
        let scenario = dir.appendingPathComponent("scenario.yaml")
        try """
        profiles: \(profiles.path)
        lines:
          - id: rs485
            baud: 9600
            devices:
              - {unit: 1, profile: test-after-reply, model: electricity, seed: 71}
              - {unit: 2, profile: eastron-sdm120, model: electricity, seed: 72}
        """.write(to: scenario, atomically: true, encoding: .utf8)
        let sim = try ChildProcess(Paths.metersim, [scenario.path])
        defer { sim.stop() }
        let pty = String(try sim.waitForLine { $0.hasPrefix("line rs485 ") }.dropFirst("line rs485 ".count))
        try sim.waitForLine { $0 == "ready" }

        let child = try ChildProcess(Paths.meteragent, ["commission", "--port", pty, "--profiles", profiles.path, "--timeout-ms", "400",
                                                        "--profile", "test-after-reply", "--new-unit", "9", "--new-baud", "19200",
                                                        "--ct-ratio", "200"])
        #expect(child.wait(timeout: 60) == 0, "\(child.stdout)\n\(child.stderr)")
        let wrote = child.stdout.split(separator: "\n").filter { $0.hasPrefix("wrote ") }
        #expect(wrote == [
            "wrote unlock = 1234 (register 0x0200, unit 1, 9600 8N1)",
            "wrote ct_ratio = 200 (register 0x0102, unit 1, 9600 8N1)",
            "wrote baud = 19200 (register 0x0101, unit 1, 9600 8N1)",
            "wrote unit_id = 9 (register 0x0100, unit 1, 19200 8N1)",
            "wrote apply = 1 (register 0x0201, unit 9, 19200 8N1)",
        ], "\(child.stdout)")
        #expect(child.stdout.contains("{id: meter-9, bus: rs485, unit: 9, profile: test-after-reply}"), "\(child.stdout)")
        let probe = { (unit: String, baud: String, profile: String) throws -> Int32 in
            try runCommand(Paths.meteragent, ["probe", "--port", pty, "--baud", baud, "--parity", "none", "--unit", unit, "--timeout-ms", "300",
                                              "--profile", profile, "--profiles", profiles.path]).status
        }
        #expect(try probe("9", "19200", "test-after-reply") == 0)
        #expect(try probe("1", "9600", "test-after-reply") == 1)
        #expect(try probe("2", "9600", "eastron-sdm120") == 0, "the other meter is untouched")
    }

    @Test func helpAndUsageMistakesNeedNoMeter() throws {
        let help = try runCommand(Paths.meteragent, ["--help"])
        #expect(help.stdout.contains("  commission "), "\(help.stdout)")
        let own = try runCommand(Paths.meteragent, ["commission", "--help"])
        #expect(own.stdout.contains("--new-unit") && own.stdout.contains("one") && own.stdout.contains("--restart-wait"))
        // Checked against the profile before the port is opened.
        let port = "/dev/null-no-such-port"
        let rate = try runCommand(Paths.meteragent, ["commission", "--port", port, "--profile", "eastron-sdm630", "--profiles", Paths.profiles,
                                                     "--new-baud", "115200"])
        #expect(rate.status == 64 && rate.stderr.contains("takes baud 2400, 4800, 9600, 19200, 38400, 1200, not 115200"), "\(rate.stderr)")
        let ratio = try runCommand(Paths.meteragent, ["commission", "--port", port, "--profile", "eastron-sdm630", "--profiles", Paths.profiles,
                                                      "--ct-ratio", "100"])
        #expect(ratio.status == 2 && ratio.stderr.contains("does not declare ct_ratio writable"), "\(ratio.stderr)")
        let dlt = try runCommand(Paths.meteragent, ["commission", "--port", port, "--profile", "dlt645-2007-generic", "--profiles", Paths.profiles,
                                                    "--new-unit", "7"])
        #expect(dlt.status == 64 && dlt.stderr.contains("a DL/T 645 meter takes --new-address and --new-baud only"), "\(dlt.stderr)")
        let fixed = try runCommand(Paths.meteragent, ["commission", "--port", port, "--profile", "dlt645-2007-generic", "--profiles", Paths.profiles,
                                                      "--new-baud", "19200"])
        #expect(fixed.status == 2 && fixed.stderr.contains("does not let the meter change to 19200 baud (it takes 1200, 2400, 4800, 9600)"), "\(fixed.stderr)")
        let none = try runCommand(Paths.meteragent, ["commission", "--port", port, "--profile", "tuf2000m-water", "--profiles", Paths.profiles,
                                                     "--new-unit", "7"])
        #expect(none.status == 2 && none.stderr.contains("declares no writable settings"), "\(none.stderr)")
    }
}
