import Foundation
import MeterProtocols
import Testing
@testable import MeterCore

@Suite struct SiteConfigLoaderTests {
    @Test func defaultsAndSpellings() throws {
        let text = """
        gateway: gw-1
        buses:
          - {id: line-a, type: serial, port: /dev/ttyS1, parity: E, baud: 2400, stop_bits: 1}
          - {id: line-b, type: serial, port: "usb:0403:6001:A10K3ZX1", rs485: yes, queue_depth: 8}
          - {id: plant, type: tcp, host: meters.local}
        devices:
          - {id: m1, bus: line-a, unit: 247, profile: eastron-sdm120}
          - {id: m2, bus: plant, unit: 0, profile: eastron-sdm630, poll_interval: 500ms}
          - {id: m3, bus: line-b, unit: 0x10, profile: generic-modbus-gas, poll_interval: 90, tags: {flat: 301}}
        """
        let site = try SiteConfigLoader.load(text: text, file: "s.yaml", profiles: try Repo.profiles())
        #expect(site.source == "s.yaml")
        #expect(site.bus(BusID("line-a"))?.transport == .serial(port: "/dev/ttyS1", settings: SerialSettings(baud: 2400, parity: .even), rs485: false))
        #expect(site.bus(BusID("line-b"))?.transport == .serial(port: "usb:0403:6001:A10K3ZX1", settings: SerialSettings(), rs485: true))
        #expect(site.bus(BusID("line-b"))?.queueDepth == 8)
        let plant = try #require(site.bus(BusID("plant")))
        #expect(plant.transport == .tcp(host: "meters.local", port: 502))
        #expect(plant.timeoutMs == 500 && plant.retries == 1 && plant.queueDepth == 64 && plant.protocolName == .modbus)
        #expect(site.device(DeviceID("m1"))?.pollIntervalMs == 10_000)
        #expect(site.device(DeviceID("m2"))?.pollIntervalMs == 500)
        #expect(site.device(DeviceID("m2"))?.unit == UnitID(0))
        #expect(site.device(DeviceID("m3"))?.pollIntervalMs == 90_000)
        #expect(site.device(DeviceID("m3"))?.unit == UnitID(16))
        #expect(site.device(DeviceID("m3"))?.tags == ["flat": "301"])
        #expect(site.devices.map(\.id.rawValue) == ["m1", "m2", "m3"])
    }

    @Test func emptySiteIsValid() throws {
        let site = try SiteConfigLoader.load(text: "gateway: gw-empty\nbuses: []\ndevices:\n", file: "s.yaml", profiles: [:])
        #expect(site.buses.isEmpty && site.devices.isEmpty)
        let busesOnly = try SiteConfigLoader.load(text: "gateway: g\nbuses: [{id: b, type: tcp, host: h}]\n", file: "s.yaml", profiles: [:])
        #expect(busesOnly.buses.count == 1 && busesOnly.devices.isEmpty)
    }

    @Test func topLevelMustBeAMapping() {
        #expect(siteErrors("- a\n- b\n", file: "s.yaml", profiles: [:]) == ["s.yaml:1:1: expected a mapping for site config, got a list"])
        #expect(siteErrors("", file: "s.yaml", profiles: [:]) == ["s.yaml:1:1: expected a mapping for site config, got nothing"])
    }

    @Test func allErrorsOfAFileAreReported() throws {
        let text = """
        gateway: gw-1
        buses:
          - {id: a, type: serial, port: /dev/ttyS0, timeout_ms: 5}
        devices:
          - {id: d1, bus: a, unit: 0, profile: eastron-sdm120}
          - {id: d2, bus: a, unit: 2, profile: eastron-sdm120, tags: [x]}
        """
        let errors = siteErrors(text, file: "s.yaml", profiles: try Repo.profiles())
        #expect(errors == [
            "s.yaml:3:57: timeout_ms 5 out of range 10–60000",
            "s.yaml:5:28: unit id 0 out of range 1–247 for serial bus 'a'",
            "s.yaml:6:62: expected a mapping for 'tags', got a list",
        ])
    }

    /// A temporary tree: `root/config/site.yaml` and `root/profiles/NAME.yaml`.
    func withTree(site: String, profiles: [String: String], _ body: (String) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metercore-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/config", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/profiles", withIntermediateDirectories: true)
        try site.write(toFile: root + "/config/site.yaml", atomically: true, encoding: .utf8)
        for (name, text) in profiles { try text.write(toFile: root + "/profiles/" + name, atomically: true, encoding: .utf8) }
        try body(root)
    }

    static let tinyProfile = """
    manufacturer: Acme
    model: T1
    medium: heat
    points: [{name: energy.total, table: input, address: 0, type: u32, unit: kWh, billing: true}]
    """

    @Test func profilesKeyIsRelativeToTheConfigFile() throws {
        let site = """
        gateway: gw-1
        profiles: ../profiles
        buses: [{id: b, type: tcp, host: 127.0.0.1, port: 1502}]
        devices: [{id: heat-1, bus: b, unit: 1, profile: acme-t1}]
        """
        try withTree(site: site, profiles: ["acme-t1.yaml": Self.tinyProfile, "README.md": "not a profile"]) { root in
            let loaded = try SiteConfigLoader.load(path: root + "/config/site.yaml")
            #expect(loaded.devices.first?.profile.name == "acme-t1")
            #expect(loaded.devices.first?.profile.medium == .heat)
            #expect(ProfileLoader.profileNames(in: root + "/profiles") == ["acme-t1"])
        }
    }

    @Test func missingProfilesDirectoryIsReportedAtTheKey() throws {
        try withTree(site: "gateway: gw-1\nprofiles: ./nope\n", profiles: [:]) { root in
            do throws(ConfigErrors) {
                _ = try SiteConfigLoader.load(path: root + "/config/site.yaml")
                Issue.record("loaded with a missing profiles directory")
            } catch {
                #expect(error.description == "\(root)/config/site.yaml:2:11: profiles directory './nope' not found (looked in \(root)/config/nope)")
            }
        }
    }

    @Test func unusedBrokenProfileDoesNotFailTheSite() throws {
        let site = """
        gateway: gw-1
        profiles: ../profiles
        buses: [{id: b, type: tcp, host: 127.0.0.1}]
        devices: [{id: heat-1, bus: b, unit: 1, profile: acme-t1}]
        """
        try withTree(site: site, profiles: ["acme-t1.yaml": Self.tinyProfile, "broken.yaml": "manufacturer: x\n"]) { root in
            let loaded = try SiteConfigLoader.load(path: root + "/config/site.yaml")
            #expect(loaded.devices.count == 1)
            #expect(throws: ConfigErrors.self) { try ProfileLoader.loadDirectory(root + "/profiles") }
        }
    }

    @Test func closeNames() {
        let names = ["eastron-sdm120", "eastron-sdm630", "generic-modbus-gas", "tuf2000m-water"]
        #expect(SiteConfigLoader.closeNames(to: "sdm-120", in: names) == ["eastron-sdm120"])
        #expect(SiteConfigLoader.closeNames(to: "eastron-sdm12", in: names) == ["eastron-sdm120"])
        #expect(SiteConfigLoader.closeNames(to: "tuf2000", in: names) == ["tuf2000m-water"])
        #expect(SiteConfigLoader.closeNames(to: "landis", in: names).isEmpty)
        #expect(SiteConfigLoader.editDistance("kitten", "sitting") == 3)
        #expect(SiteConfigLoader.editDistance("", "abc") == 3)
        #expect(SiteConfigLoader.editDistance("abc", "") == 3)
    }

    @Test func emptyPointsListIsAnError() {
        #expect(profileErrors("manufacturer: a\nmodel: b\nmedium: gas\npoints: []\n", file: "p.yaml") ==
            ["p.yaml:4:9: 'points' is empty: a profile needs at least one point"])
    }

    @Test func missingProfileFile() {
        #expect(throws: ConfigErrors.self) { try ProfileLoader.load(path: "/nonexistent/x.yaml") }
    }
}
