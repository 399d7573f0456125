import Foundation
import Testing

/// The simulated RDM6300 of `metersim` (a separate process, cards through its control socket)
/// read by an independent client (the PyPI `rdm6300` package) and by `meteragent probe --reader`
/// and `meteragent read CONFIG READER`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RDM6300ReaderTests {
    static let scenario = """
        lines:
          - {id: door, protocol: rdm6300, baud: 9600}

        """

    /// A python peer or a meteragent command that is waiting for a card gets one.
    func presentWhenReady(_ child: ChildProcess, _ sim: Simulator, card: String, seconds: Double = 2,
                          ready: (String) -> Bool) throws {
        try child.waitForLine(timeout: 20, ready)
        // The client has the port open; give its first read a moment before the card comes.
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try sim.control("card door \(card) \(seconds)").hasSuffix("ok\n"))
    }

    @Test func thePyPIReaderReadsTheSimulatedModule() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["door"])
        let python = try ChildProcess(Paths.python, [Paths.interopScript("rdm6300_read.py"), pty, "15"])
        // A corrupted first frame: the library's checksum check must reject it, then take the repeat.
        #expect(try sim.control("corrupt door").hasSuffix("ok\n"))
        try presentWhenReady(python, sim, card: "0F00271DA5") { $0 == "ready" }
        let status = python.wait(timeout: 20)
        #expect(status == 0, "rdm6300 peer: \(python.stdout) \(python.stderr)")
        #expect(python.stdout.contains("card 0F00271DA5 valid"), "\(python.stdout)")
        #expect(python.stdout.contains("invalid 0F00271DA5"), "the corrupted frame reached the peer: \(python.stdout)")
    }

    @Test func probeReaderPrintsTheReaderAndTheCard() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["door"])
        let probe = try ChildProcess(Paths.meteragent, ["probe", "--port", pty, "--reader", "rdm6300", "--wait", "15"])
        try probe.waitForLine(timeout: 20) { $0.hasPrefix("reader ") }
        // Line noise and a broken frame ahead of the card: no false card, and the card still read.
        #expect(try sim.control("garbage door 50").hasSuffix("ok\n"))
        #expect(try sim.control("corrupt door").hasSuffix("ok\n"))
        try presentWhenReady(probe, sim, card: "0F00271DA5") { $0.hasPrefix("reader ") }
        #expect(probe.wait(timeout: 20) == 0, "\(probe.stdout) \(probe.stderr)")
        let lines = probe.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("recognised by its first valid frame") == true, "\(lines)")
        #expect(lines.last == "card em4100:0F00271DA5", "\(lines)")
    }

    @Test func probeReaderFailuresHaveTheirExitCodes() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["door"])
        // No card within --wait: 1.
        let none = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--reader", "rdm6300", "--wait", "1"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no card within 1 s"), "\(none.stderr)")
        // A port that cannot be opened: 3, with the port named.
        let missing = try runCommand(Paths.meteragent, ["probe", "--port", "/dev/no-such-reader", "--reader", "rdm6300", "--wait", "5"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("/dev/no-such-reader"), "\(missing.stderr)")
        // Unknown type, and a probe asked for a meter and a reader at once: usage errors.
        let unknown = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--reader", "mifare"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("rdm6300, pn532"), "\(unknown.stderr)")
        let both = try runCommand(Paths.meteragent, ["probe", "--port", pty, "--reader", "rdm6300", "--profile", "eastron-sdm120"])
        #expect(both.status == 64)
    }

    @Test func readAReaderOfTheSite() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let pty = try #require(sim.lines["door"])
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let site = try writeSite("""
            gateway: gw-cards
            buses:
              - {id: rs485, type: serial, port: /dev/ttyS1, protocol: dlt645}
            devices:
              - {id: bay-1, bus: rs485, address: "000000000001", profile: dlt645-2007-generic}
            readers:
              - {id: door, type: rdm6300, port: \(pty), supply_point: bay-1}

            """, in: dir)
        let read = try ChildProcess(Paths.meteragent, ["read", site, "door", "--wait", "15", "--json"])
        // --json prints nothing before the card: the card stays long enough for a slow start to see
        // it (the module repeats it; older frames are flushed when the port opens).
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try sim.control("card door 1A2B3C4D5E 8").hasSuffix("ok\n"))
        #expect(read.wait(timeout: 20) == 0, "\(read.stdout) \(read.stderr)")
        let json = jsonLines(read.stdout)
        #expect(json.first?["card"] as? String == "em4100:1A2B3C4D5E", "\(read.stdout)")
        #expect(json.first?["uid"] as? String == "1A2B3C4D5E")
        // A name that is neither a device nor a reader lists both.
        let unknown = try runCommand(Paths.meteragent, ["read", site, "gate"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("readers: door"), "\(unknown.stderr)")
    }

    @Test func aScenarioReaderLineTakesNoDevices() throws {
        let dir = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try """
            profiles: \(Paths.profiles)
            lines:
              - id: door
                protocol: rdm6300
                devices:
                  - {unit: 1, profile: eastron-sdm120}

            """.write(to: file, atomically: true, encoding: .utf8)
        let sim = try runCommand(Paths.metersim, [file.path], timeout: 10)
        #expect(sim.status != 0)
        #expect(sim.stderr.contains("bad.yaml:") && sim.stderr.contains("takes no devices"), "\(sim.stderr)")
    }
}
