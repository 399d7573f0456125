import MeterProtocols
import Testing
@testable import MeterCore

/// Every example site config validates against the shipped profiles.
@Suite struct ExampleConfigTests {
    @Test(arguments: try Repo.yamlFiles(in: "Hardware/examples").filter { $0.hasSuffix("-site.yaml") })
    func exampleValidates(file: String) throws {
        let site = try SiteConfigLoader.load(path: Repo.path("Hardware/examples/" + file))
        #expect(!site.devices.isEmpty)
        for device in site.devices {
            #expect(site.bus(device.bus) != nil)
            _ = try device.profile.planner.plan(device.profile.points.map(\.span))
        }
    }

    @Test func exampleSiteDescribesTheBuilding() throws {
        let site = try SiteConfigLoader.load(path: Repo.path("Hardware/examples/example-site.yaml"))
        #expect(site.gatewayID == "gw-tianhe-0001")
        let line = try #require(site.bus(BusID("rs485-1")))
        #expect(line.transport == .serial(port: "usb:0403:6001", settings: SerialSettings(), rs485: true))
        let units = site.devices(on: line.id).map { ($0.unit.rawValue, $0.profile.name) }
        #expect(units.map(\.0) == [1, 2, 3, 4, 10, 20])
        #expect(units.map(\.1) == ["eastron-sdm120", "eastron-sdm120", "generic-modbus-relay-meter", "generic-modbus-relay-meter",
                                    "tuf2000m-water", "generic-modbus-gas"])
        #expect(site.devices.filter(\.protected).map(\.id.rawValue) == ["flat-303-elec"])
        let prepaid = try #require(site.device(DeviceID("flat-304-elec"))?.costControl?.local)
        #expect(prepaid.tariff.price(atMinute: 12 * 60) == ExactDecimal("0.79")!)
        #expect(prepaid.tariff.price(atMinute: 23 * 60) == ExactDecimal("0.39")!)
        #expect(prepaid.lowCredit.hasSameValue(as: ExactDecimal("10")!))
        #expect(site.commands.keys.map(\.id) == ["ops-2026-1"])
        let main = try #require(site.device(DeviceID("building-a-main")))
        #expect(main.profile.name == "eastron-sdm630")
        #expect(site.bus(main.bus)?.transport == .tcp(host: "192.168.10.20", port: 502))
        #expect(site.device(DeviceID("flat-301-elec"))?.tags == ["flat": "301", "building": "A"])
        #expect(site.device(DeviceID("flat-301-elec"))?.pollIntervalMs == 15_000)
    }

    @Test func demoSiteKeepsThePtySymlinkAsWritten() throws {
        let site = try SiteConfigLoader.load(path: Repo.path("Hardware/examples/demo-site.yaml"))
        let serial = site.buses.first { if case .serial = $0.transport { true } else { false } }
        #expect(serial?.transport == .serial(port: ".run/ttyDEMO0", settings: SerialSettings(baud: 9600), rs485: false))
        let tcp = site.buses.first { if case .tcp = $0.transport { true } else { false } }
        #expect(tcp?.transport == .tcp(host: "127.0.0.1", port: 15020))
        let onSerial = site.devices.filter { $0.bus == serial?.id }.map { "\($0.unit):\($0.profile.name)" }
        #expect(onSerial == ["1:eastron-sdm120", "2:eastron-sdm120", "10:tuf2000m-water", "20:generic-modbus-gas"])
        let onTCP = site.devices.filter { $0.bus == tcp?.id }.map { "\($0.unit):\($0.profile.name)" }
        #expect(onTCP == ["1:eastron-sdm630"])
        #expect(site.devices.allSatisfy { (2000...5000).contains($0.pollIntervalMs) })
    }

    @Test func explicitProfilesDirectoryWins() throws {
        let site = try SiteConfigLoader.load(path: Repo.path("Hardware/examples/demo-site.yaml"),
                                             profilesDirectory: Repo.profilesDirectory)
        #expect(site.devices.count == 10)
        #expect(site.readers.map(\.id.rawValue) == ["ev-bay-1-reader"])
        #expect(throws: ConfigErrors.self) {
            try SiteConfigLoader.load(path: Repo.path("Hardware/examples/demo-site.yaml"), profilesDirectory: "/nonexistent")
        }
    }

    @Test func missingFileIsReportedAtItsPath() {
        do {
            _ = try SiteConfigLoader.load(path: "/nonexistent/site.yaml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description == "/nonexistent/site.yaml:1:1: cannot read file")
        }
    }
}
