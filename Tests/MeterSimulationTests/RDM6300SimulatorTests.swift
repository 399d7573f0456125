import Foundation
import MeterCore
import MeterIO
import MeterProtocols
@testable import MeterSimulation
import Testing

/// The simulated RDM6300 as a scenario line and through the control channel; what a client
/// reads from its pty. (The driver's view of it is in MeterDriversTests.)
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RDM6300SimulatorTests {
    @Test func aReaderLineHasNoDevices() throws {
        let scenario = try ScenarioLoader.parse(text: """
            lines:
              - {id: door, protocol: rdm6300}
              - {id: bay, protocol: rdm6300, baud: 9600}
            """, file: "s.yaml")
        #expect(scenario.lines.map(\.protocolName) == [.rdm6300, .rdm6300])
        #expect(scenario.lines.allSatisfy { $0.devices.isEmpty })
    }

    @Test func devicesOnAReaderLineAreRefusedWhereTheyAre() {
        let text = """
        lines:
          - id: door
            protocol: rdm6300
            devices:
              - {unit: 1, profile: eastron-sdm120}
          - id: meters
            protocol: modbus
        """
        #expect {
            _ = try ScenarioLoader.parse(text: text, file: "s.yaml")
        } throws: { error in
            let messages = (error as? ConfigErrors)?.errors.map(\.description) ?? []
            return messages == [
                "s.yaml:5:7: a card reader line (protocol: rdm6300) takes no devices; present cards with the control channel's 'card' command",
                "s.yaml:6:5: missing key 'devices' in line",
            ]
        }
    }

    @Test func controlVerbsDriveTheReader() throws {
        let simulator = try Simulator(scenario: ScenarioLoader.parse(text: "lines:\n  - {id: door, protocol: rdm6300}\n", file: "s.yaml"))
        defer { simulator.stop() }
        try simulator.start()
        let control = ControlInterpreter(simulator: simulator)
        let reader = try #require(simulator.servers(RDM6300ReaderServer.self).first)
        let port = try SerialPort(port: try #require(reader.slavePath), settings: SerialSettings(baud: 9600))
        #expect(control.execute("card door 0F00271D") == ["error: line door: an RDM6300 reads EM4100 cards, whose ids are 5 bytes, not 4"])
        #expect(control.execute("card door 0F00271DA5 0.35") == ["ok"])
        var decoder = RDM6300StreamDecoder()
        var tags: [EM4100Tag] = []
        let start = Monotonic.now()
        while Monotonic.now() - start < 1.0 {
            decoder.append(try port.read(maxBytes: 256, timeoutMs: 50))
            while let tag = decoder.nextTag() { tags.append(tag) }
        }
        // Repeated about every 100 ms while in the field (0.35 s), then silence.
        #expect((3...5).contains(tags.count), "\(tags.count) frames")
        #expect(Set(tags) == [EM4100Tag(bytes: [0x0F, 0x00, 0x27, 0x1D, 0xA5])!])
        #expect(control.execute("list") == ["door reader rdm6300 plugged card=none", "ok"])
        #expect(control.execute("unplug door") == ["ok"])
        #expect(throws: SerialPortError.self) {
            for _ in 0..<10 { _ = try port.read(maxBytes: 16, timeoutMs: 100) }
        }
        let plugged = control.execute("plug door")
        #expect(plugged.count == 2 && plugged[0].hasPrefix("line door /dev/") && plugged[1] == "ok", "\(plugged)")
    }

    @Test func theLinkGoesWithAnUnpluggedReaderAndFollowsItsNewPty() throws {
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("rdm-link-\(getpid())").path
        let simulator = try Simulator(scenario: ScenarioLoader.parse(text: "lines:\n  - {id: door, protocol: rdm6300, link: \(link)}\n", file: "s.yaml"))
        defer { simulator.stop() }
        try simulator.start()
        let control = ControlInterpreter(simulator: simulator)
        #expect(FileManager.default.fileExists(atPath: link))
        #expect(control.execute("unplug door") == ["ok"])
        // No link to a closed pty whose number the next process may get.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
        let plugged = control.execute("plug door")
        #expect(plugged.last == "ok")
        #expect(plugged.first == "line door " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) ?? "none"))
    }
}
