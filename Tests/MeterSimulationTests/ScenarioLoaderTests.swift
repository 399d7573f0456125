import MeterCore
@testable import MeterSimulation
import Testing

@Suite struct ScenarioLoaderTests {
    @Test func demoScenarioMatchesTheDemoSite() throws {
        let scenario = try ScenarioLoader.load(path: TestPaths.root + "/Hardware/examples/demo-scenario.yaml")
        let line = try #require(scenario.lines.first)
        #expect(line.link == ".run/ttyDEMO0")
        #expect(line.settings == SerialSettings(baud: 9600, parity: .none, dataBits: 8, stopBits: 1))
        #expect(line.devices.map(\.unit.rawValue) == [1, 2, 10, 20])
        #expect(line.devices.map(\.profileName) == ["eastron-sdm120", "eastron-sdm120", "tuf2000m-water", "generic-modbus-gas"])
        #expect(scenario.tcp.map(\.port) == [15020])
        #expect(scenario.tcp.first?.devices.map(\.profileName) == ["eastron-sdm630"])
        #expect(scenario.control == ".run/metersim.sock")
        #expect(Set(scenario.profiles.keys) == ["eastron-sdm120", "tuf2000m-water", "generic-modbus-gas", "eastron-sdm630",
                                                 "dlt645-2007-generic", "dlt645-2007-csg", "cjt188-water-cold", "cjt188-gas"])
        #expect(scenario.lines.map(\.link) == [".run/ttyDEMO0", ".run/ttyDEMO1", ".run/ttyDEMO2", ".run/ttyDEMO3"])
        #expect(scenario.lines.last?.protocolName == .rdm6300)
        // The site config the agent reads names the same port and units.
        let site = try #require(readTextFile(TestPaths.root + "/Hardware/examples/demo-site.yaml"))
        #expect(site.contains("port: .run/ttyDEMO0"))
        #expect(site.contains("port: 15020"))
        #expect(site.contains("port: .run/ttyDEMO1") && site.contains("port: .run/ttyDEMO2") && site.contains("port: .run/ttyDEMO3"))
    }

    @Test func errorsCarryFileLineAndColumn() {
        let text = """
        lines:
          - id: a
            baud: fast
            devices:
              - {unit: 300, profile: eastron-sdm120}
              - {unit: 2, profile: x, faults: {no_reply: maybe, explode: on}}
        tcp:
          - port: 15020
            colour: red
            devices: []
        """
        #expect {
            _ = try ScenarioLoader.parse(text: text, file: "s.yaml")
        } throws: { error in
            let messages = (error as? ConfigErrors)?.errors.map(\.description) ?? []
            return messages == [
                "s.yaml:3:11: expected an integer, got 'fast'",
                "s.yaml:5:16: 300 is out of range 1…247",
                "s.yaml:6:50: fault no_reply: 'maybe' is not on/off",
                "s.yaml:6:57: unknown fault 'explode' (expected one of: no_reply, delay_ms, bad_crc, garbage, exception, wrong_unit)",
                "s.yaml:9:5: unknown key 'colour' in tcp entry (expected one of: id, port, count, devices)",
            ]
        }
    }

    @Test func unknownProfileIsReportedWhereItIsNamed() {
        var scenario = Scenario(profilesDirectory: TestPaths.root + "/Hardware/profiles", lines: [
            ScenarioLine(id: "a", devices: [ScenarioDevice(unit: UnitID(1), profileName: "nosuch",
                                                           location: SourceLocation(file: "s.yaml", line: 4, column: 9))]),
        ])
        #expect {
            try ScenarioLoader.loadProfiles(into: &scenario)
        } throws: { error in
            (error as? ConfigErrors)?.errors.first?.description.hasPrefix("s.yaml:4:9: unknown profile 'nosuch'") == true
        }
    }

    @Test func tcpCountExpandsToConsecutivePorts() throws {
        let text = """
        tcp:
          - port: 16000
            count: 100
            devices: [{unit: 1, profile: eastron-sdm630, faults: {delay_ms: 5}}]
        """
        let scenario = try ScenarioLoader.parse(text: text, file: "bench.yaml")
        #expect(scenario.tcp.count == 100)
        #expect(scenario.tcp.first?.port == 16000)
        #expect(scenario.tcp.last?.port == 16099)
        #expect(scenario.tcp.allSatisfy { $0.devices.count == 1 && $0.devices[0].faults.delayMs == 5 })
    }

    /// Factory-fresh meters share unit 1 on a serial line until commissioned; a TCP port's
    /// units stay distinct.
    @Test func duplicateUnitsOnlyOnASerialLine() throws {
        let line = """
        lines:
          - id: a
            devices:
              - {unit: 1, profile: p}
              - {unit: 1, profile: p}
        """
        #expect(try ScenarioLoader.parse(text: line, file: "d.yaml").lines[0].devices.map(\.unit.rawValue) == [1, 1])
        let tcp = """
        tcp:
          - port: 0
            devices:
              - {unit: 1, profile: p}
              - {unit: 1, profile: p}
        """
        #expect(throws: ConfigErrors.self) { _ = try ScenarioLoader.parse(text: tcp, file: "t.yaml") }
    }
}
