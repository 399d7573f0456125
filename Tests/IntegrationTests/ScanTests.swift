import Foundation
import Testing

/// `meteragent scan` (the real binary) against `metersim` lines whose meters run at two baud
/// rates: Modbus unit ids with device identification, DL/T 645 meters whose wildcard replies
/// collide. The proposed config is validated and read back (issue 13).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScanTests {
    static let scenario = """
    lines:
      - id: mixed
        baud: 9600
        devices:
          - {unit: 1, profile: eastron-sdm120, seed: 1}
          - {unit: 7, profile: eastron-sdm630, seed: 2}
          - {unit: 42, profile: eastron-sdm630, baud: 2400, seed: 3}
      - id: slow
        baud: 2400
        devices:
          - {unit: 5, profile: eastron-sdm120, seed: 4}
      - id: dlt
        protocol: dlt645
        baud: 9600
        devices:
          - {address: "000000001201", profile: dlt645-2007-generic, seed: 5}
          - {address: "000000003402", profile: dlt645-2007-generic, seed: 6}
          - {address: "000000005603", profile: dlt645-2007-generic, baud: 2400, seed: 7}

    """

    @Test func findsEveryMeterAtItsBaudAndTheProposalReadsThem() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let mixed = try #require(sim.lines["mixed"]), slow = try #require(sim.lines["slow"]), dlt = try #require(sim.lines["dlt"])
        let scan = try runCommand(Paths.meteragent, ["scan", "--port", mixed, "--port", slow, "--port", dlt, "--bauds", "2400,9600",
                                                     "--parity", "none,even", "--units", "1-8,42", "--protocols", "modbus,dlt645",
                                                     "--turnaround-ms", "30", "--profiles", Paths.profiles], timeout: 120)
        #expect(scan.status == 0, "\(scan.stderr)")
        let found = scan.stdout.split(separator: "\n").filter { $0.hasPrefix("found ") }.map(String.init)
        #expect(found == [
            "found modbus unit 42 at 2400 8N1: Eastron SDM630 (profile eastron-sdm630)",
            "found modbus unit 1 at 9600 8N1: Eastron SDM120 (profile eastron-sdm120)",
            "found modbus unit 7 at 9600 8N1: Eastron SDM630 (profile eastron-sdm630)",
            "found modbus unit 5 at 2400 8N1: Eastron SDM120 (profile eastron-sdm120)",
            "found dlt645 meter 000000005603 at 2400 8N1 (profile dlt645-2007-generic)",
            "found dlt645 meter 000000001201 at 9600 8N1 (profile dlt645-2007-generic)",
            "found dlt645 meter 000000003402 at 9600 8N1 (profile dlt645-2007-generic)",
        ], "\(scan.stdout)")
        // A pty refuses PARENB: said once per port, and the scan goes on without parity.
        #expect(scan.stdout.components(separatedBy: "cannot take parity even").count - 1 == 3)
        #expect(!scan.stderr.contains("\u{1B}["), "no progress bar when stderr is not a terminal")

        // The proposal: one bus per port at the rate most of its meters use; the others as comments.
        let proposal = try #require(scan.stdout.range(of: "# Proposed by meteragent scan").map { String(scan.stdout[$0.lowerBound...]) })
        #expect(proposal.contains("port: \(mixed), baud: 9600, parity: none, protocol: modbus"))
        #expect(proposal.contains("port: \(slow), baud: 2400, parity: none, protocol: modbus"))
        #expect(proposal.contains("port: \(dlt), baud: 9600, parity: none, protocol: dlt645"))
        #expect(proposal.contains("# modbus unit 42 on \(mixed) answers at 2400 8N1"))
        #expect(proposal.contains("# dlt645 meter 000000005603 on \(dlt) answers at 2400 8N1"))

        let site = try writeSite(proposal, in: try Paths.temporaryDirectory())
        let validated = try runCommand(Paths.meteragent, ["config", "validate", site])
        #expect(validated.status == 0 && validated.stdout.contains("3 buses, 5 devices"), "\(validated.stdout)\(validated.stderr)")
        for device in ["line1-modbus-9600-u1", "line1-modbus-9600-u7", "line2-modbus-2400-u5",
                       "line3-dlt645-9600-000000001201", "line3-dlt645-9600-000000003402"] {
            let read = try runCommand(Paths.meteragent, ["read", site, device, "--json"])
            let readings = jsonLines(read.stdout)
            #expect(read.status == 0 && !readings.isEmpty, "\(device): \(read.stderr)")
            #expect(readings.allSatisfy { $0["quality"] as? String == "good" }, "\(device): \(read.stdout)")
        }
    }

    @Test func jsonIsOneDocumentWithTheFindingsAndTheProposal() throws {
        let sim = try Simulator(scenario: Self.scenario)
        defer { sim.stop() }
        let mixed = try #require(sim.lines["mixed"])
        let scan = try runCommand(Paths.meteragent, ["scan", "--port", mixed, "--bauds", "9600", "--parity", "none", "--units", "1-3",
                                                     "--protocols", "modbus", "--turnaround-ms", "30", "--json", "--profiles", Paths.profiles])
        #expect(scan.status == 0, "\(scan.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(scan.stdout.utf8)) as? [String: Any])
        let found = try #require(document["found"] as? [[String: Any]])
        #expect(found.count == 1)
        #expect(found.first?["unit"] as? Int == 1 && found.first?["baud"] as? Int == 9600 && found.first?["profile"] as? String == "eastron-sdm120")
        #expect((document["proposal"] as? String)?.contains("unit: 1, profile: eastron-sdm120") == true)
    }
}
