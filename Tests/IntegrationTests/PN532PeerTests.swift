import Foundation
import Testing

/// The simulated PN532 (metersim, a separate process) against NFC stacks no one here wrote:
/// libnfc's own `nfc-list` (Debian libnfc-bin) and nfcpy's PN532 driver (PyPI). Both initialise the
/// chip their own way and must find the presented card's UID. A missing peer fails the test.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct PN532PeerTests {
    static let scenario = """
        lines:
          - id: nfc
            protocol: pn532
            baud: 115200
        """

    /// `nfc-list` on the simulator's pty; libnfc finds a device named by LIBNFC_DEVICE.
    func nfcList(_ pty: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let list = "/usr/bin/nfc-list"
        guard FileManager.default.isExecutableFile(atPath: list) else {
            throw HarnessError("\(list) is missing: install Debian's libnfc-bin (make apt-deps)")
        }
        let child = try ChildProcess(list, [], environment: [
            "LIBNFC_DEVICE": "pn532_uart:\(pty):115200", "LIBNFC_AUTO_SCAN": "false", "LIBNFC_INTRUSIVE_SCAN": "false",
        ])
        let status = child.wait(timeout: 30)
        return (status, child.stdout, child.stderr)
    }

    @Test(arguments: ["DEADBEEF", "04528A1A3C5D80", "08112233445566778899"])
    func nfcListFindsTheChipAndTheCard(uid: String) throws {
        let simulator = try Simulator(scenario: Self.scenario)
        defer { simulator.stop() }
        let pty = try #require(simulator.lines["nfc"])
        #expect(try simulator.control("card nfc \(uid) 0").contains("ok"))
        let result = try nfcList(pty)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        // nfc-list names a device given by LIBNFC_DEVICE "user defined device".
        #expect(result.stdout.contains("NFC device: user defined device opened"), "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("1 ISO14443A passive target(s) found"), "\(result.stdout)")
        // nfc-list prints the UID as lower-case hex, two spaces apart: "UID (NFCID1): de  ad  be  ef".
        let spaced = stride(from: 0, to: uid.count, by: 2).map { i -> String in
            let start = uid.index(uid.startIndex, offsetBy: i)
            return uid[start..<uid.index(start, offsetBy: 2)].lowercased()
        }.joined(separator: "  ")
        #expect(result.stdout.contains("UID (NFCID"), "\(result.stdout)")
        #expect(result.stdout.contains(spaced), "\(result.stdout)")
    }

    @Test func nfcListWithAnEmptyFieldFindsTheChipOnly() throws {
        let simulator = try Simulator(scenario: Self.scenario)
        defer { simulator.stop() }
        let pty = try #require(simulator.lines["nfc"])
        let result = try nfcList(pty)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("NFC device: user defined device opened"), "\(result.stdout)\n\(result.stderr)")
        #expect(!result.stdout.contains("ISO14443A passive target(s) found"), "\(result.stdout)")
    }

    @Test func nfcpyReadsTheCard() throws {
        let simulator = try Simulator(scenario: Self.scenario)
        defer { simulator.stop() }
        let pty = try #require(simulator.lines["nfc"])
        #expect(try simulator.control("card nfc 04528A1A3C5D80 0").contains("ok"))
        let result = try runCommand(Paths.python, [Paths.interopScript("nfcpy_read.py"), pty, "--seconds=10"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("device PN532v1.6 at \(pty)"), "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("uid 04528A1A3C5D80"), "\(result.stdout)\n\(result.stderr)")
    }

    /// Ours beside theirs: `meteragent probe --reader pn532` names the chip, then the card.
    @Test func probeReaderNamesTheChipAndReadsTheCard() throws {
        let simulator = try Simulator(scenario: Self.scenario)
        defer { simulator.stop() }
        let pty = try #require(simulator.lines["nfc"])
        let probe = try ChildProcess(Paths.meteragent, ["probe", "--port", pty, "--reader", "pn532", "--wait", "15"])
        try probe.waitForLine(timeout: 20) { $0.hasPrefix("reader ") }
        #expect(try simulator.control("card nfc 04528A1A3C5D80 1").hasSuffix("ok\n"))
        #expect(probe.wait(timeout: 20) == 0, "\(probe.stdout) \(probe.stderr)")
        let lines = probe.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("reader PN532 v1.6") == true, "\(lines)")
        #expect(lines.last == "card iso14443a:04528A1A3C5D80", "\(lines)")
    }
}
