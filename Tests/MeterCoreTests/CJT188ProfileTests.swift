import MeterProtocols
import Testing
@testable import MeterCore

/// CJ/T 188 profiles and sites: meter type, DI order, reply fields, addresses.
@Suite struct CJT188ProfileTests {
    @Test(arguments: ["cjt188-water-cold", "cjt188-water-hot", "cjt188-gas"])
    func shippedProfilesLoad(name: String) throws {
        let profile = try ProfileLoader.load(path: Repo.path("Hardware/profiles/\(name).yaml"))
        #expect(profile.protocolName == .cjt188)
        let settings = try #require(profile.cjt188)
        #expect(settings.diOrder == .highFirst)
        #expect(settings.clockLayout == .secondsFirst)
        #expect(settings.meterType == ["cjt188-water-cold": .coldWater, "cjt188-water-hot": .hotWater, "cjt188-gas": .gas][name])
        // The gas profile also reads the vendor bits of the status word (leak, tamper).
        let extra = name == "cjt188-gas" ? ["meter.status_word"] : []
        #expect(profile.pointNames.map(\.rawValue) == ["volume.total", "volume.settlement", "meter.clock", "valve.state", "valve.fault", "battery.low"] + extra)
        #expect(settings.fields[PointName("volume.total")] == .current)
        #expect(settings.fields[PointName("valve.state")] == .valveOpen)
        #expect(profile.dataPoint(named: PointName("volume.total"))?.billing == true)
        #expect(profile.dataPoints.allSatisfy { $0.di == 0x901F && $0.diBytes == 2 })
        #expect(profile.serialDefaults == SerialSettings(baud: 2400, parity: .even))
    }

    static let minimal = """
    manufacturer: X
    model: Y
    medium: water
    protocol: cjt188
    meter_type: 0x13
    di_order: low_first
    clock_order: year_first
    points:
      - {name: volume.total, field: current, unit: m³, billing: true}
      - {name: status.word, field: status}
    """

    @Test func settingsAreRead() throws {
        let profile = try ProfileLoader.load(text: Self.minimal, file: "p.yaml", name: "p")
        let settings = try #require(profile.cjt188)
        #expect(settings.meterType == .reclaimedWater)
        #expect(settings.diOrder == .lowFirst)
        #expect(settings.clockLayout == .yearFirst)
        #expect(settings.fields == [PointName("volume.total"): .current, PointName("status.word"): .status])
    }

    @Test func mistakesAreReportedWhereTheyAre() {
        let broken = """
        manufacturer: X
        model: Y
        medium: gas
        protocol: cjt188
        di_order: sideways
        points:
          - {name: volume.total, field: total}
          - {name: flow, field: current, di: 902F}
          - {name: valve.state, field: valve_open, format: XX}
        """
        let errors = profileErrors(broken, file: "b.yaml")
        #expect(errors.contains { $0.hasPrefix("b.yaml:1:1: missing key 'meter_type'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("b.yaml:5:11: unknown DI order 'sideways'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("b.yaml:7:33: unknown CJ/T 188 field 'total'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("b.yaml:8:38: unsupported data identifier '902F'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("b.yaml:9:44: unknown key 'format'") }, "\(errors)")

        let modbus = """
        manufacturer: X
        model: Y
        medium: gas
        meter_type: gas
        points:
          - {name: volume.total, table: holding, address: 0, type: u32}
        """
        #expect(profileErrors(modbus, file: "m.yaml") == ["m.yaml:4:13: 'meter_type' is for CJ/T 188 profiles (protocol: cjt188)"])
    }

    @Test func exampleSiteNamesMetersByAddress() throws {
        let site = try SiteConfigLoader.load(path: Repo.path("Hardware/examples/cjt188-example-site.yaml"))
        let bus = try #require(site.bus(BusID("mbus-1")))
        #expect(bus.protocolName == .cjt188)
        #expect(bus.transport == .serial(port: "usb:0403:6001", settings: SerialSettings(baud: 2400, parity: .even), rs485: false))
        #expect(site.devices.map { $0.address ?? "" } == ["00000000301001", "00000000301002", "00000000301003", "00000000302001", "00000000302003"])
        #expect(site.devices.allSatisfy { $0.profile.cjt188 != nil && CJT188Address(written: $0.address ?? "") != nil })
    }
}
