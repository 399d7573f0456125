import MeterCore
import MeterIO
import MeterProtocols
import MeterSimulation
import Testing
@testable import MeterDrivers

/// Abbreviated-address search against meters described as data: the probe answers as a shared
/// line would (silence, one reply, or a collision).
@Suite struct AddressSearchTests {
    final class Count { var value = 0 }

    static func line(_ meters: [[UInt8]], probes: Count) -> ([UInt8]) -> AddressProbe {
        { pattern in
            probes.value += 1
            let reached = meters.filter { AddressSearch.matches($0, pattern) }
            return reached.isEmpty ? .silent : reached.count == 1 ? .one(reached[0]) : .collision
        }
    }

    @Test func oneMeterIsFoundWithOneProbe() {
        let probes = Count()
        let meter: [UInt8] = [0x12, 0x34, 0x56, 0x78, 0x10, 0x12]
        let found = AddressSearch(width: 6).run(probe: Self.line([meter], probes: probes), confirm: { $0 == meter })
        #expect(found == [meter])
        #expect(probes.value == 1)
    }

    @Test func collisionsNarrowByteByByteFromTheLowEnd() {
        let probes = Count()
        // Two share their low byte (01): the second byte separates them.
        let meters: [[UInt8]] = [[0x01, 0x12, 0, 0, 0, 0], [0x01, 0x34, 0, 0, 0, 0], [0x02, 0x56, 0, 0, 0, 0]]
        var search = AddressSearch(width: 6)
        let grown = Count()
        search.willNarrow = { grown.value += $0 }
        let found = search.run(probe: Self.line(meters, probes: probes), confirm: { meters.contains($0) })
        #expect(Set(found) == Set(meters) && found.count == 3)
        #expect(probes.value == 1 + 100 + 100, "the wildcard, the low byte, then the second byte under 01")
        #expect(grown.value == 200)
    }

    @Test func aReplyThatDoesNotConfirmIsTreatedAsACollision() {
        let probes = Count()
        let meters: [[UInt8]] = [[0x01, 0, 0, 0, 0, 0], [0x02, 0, 0, 0, 0, 0]]
        // The overlapping replies happened to pass their checksum: a bogus address.
        let bogus: [UInt8] = [0x00, 0, 0, 0, 0, 0]
        let honest = Self.line(meters, probes: probes)
        let found = AddressSearch(width: 6).run(probe: { $0.allSatisfy { $0 == 0xAA } ? .one(bogus) : honest($0) },
                                                confirm: { meters.contains($0) })
        #expect(found == meters)
    }
}

@Suite struct ScanProgressTests {
    @Test func remainingTimeFollowsTheAverageProbe() {
        var progress = ScanProgress(total: 100)
        #expect(progress.remainingSeconds == nil)
        #expect(progress.bar(width: 10, label: "x").contains("estimating"))
        progress.done = 25
        progress.elapsedSeconds = 10
        #expect(progress.remainingSeconds == 30)
        #expect(progress.bar(width: 10, label: "9600 8N1 modbus unit 25") == "[##--------]  25%  ~30s left  9600 8N1 modbus unit 25")
        #expect(ScanProgress.duration(187) == "3m 07s" && ScanProgress.duration(3720) == "1h 02m")
    }
}

@Suite struct ScanProposalTests {
    @Test func oneBusPerPortTheRestAsCommentsAndTheBlockValidates() throws {
        let profiles = try ProfileLoader.loadDirectory(Paths.profiles)
        var sdm630 = ScanFinding(port: "/dev/ttyUSB0", protocolName: .modbus, settings: SerialSettings(baud: 9600), unit: 1)
        sdm630.profile = "eastron-sdm630"
        var sdm120 = ScanFinding(port: "/dev/ttyUSB0", protocolName: .modbus, settings: SerialSettings(baud: 9600), unit: 2)
        sdm120.profile = "eastron-sdm120"
        let unknown = ScanFinding(port: "/dev/ttyUSB0", protocolName: .modbus, settings: SerialSettings(baud: 9600), unit: 42)
        var slow = ScanFinding(port: "/dev/ttyUSB0", protocolName: .modbus, settings: SerialSettings(baud: 2400), unit: 7)
        slow.profile = "eastron-sdm630"
        var meter = ScanFinding(port: "/dev/ttyUSB1", protocolName: .dlt645, settings: SerialSettings(baud: 2400, parity: .even), address: "000000001201")
        meter.profile = "dlt645-2007-generic"
        let yaml = ScanProposal(findings: [sdm630, slow, sdm120, unknown, meter], ports: ["/dev/ttyUSB0", "/dev/ttyUSB1"]).yaml
        #expect(yaml.contains("  - {id: line1-modbus-9600, type: serial, port: /dev/ttyUSB0, baud: 9600, parity: none, protocol: modbus, timeout_ms: 325}"))
        #expect(yaml.contains("  - {id: line1-modbus-9600-u2, bus: line1-modbus-9600, unit: 2, profile: eastron-sdm120}"))
        #expect(yaml.contains("  # - {id: line1-modbus-9600-u42, bus: line1-modbus-9600, unit: 42, profile: TODO}"))
        #expect(yaml.contains("  # modbus unit 7 on /dev/ttyUSB0 answers at 2400 8N1, not at bus line1-modbus-9600's modbus 9600 8N1"))
        #expect(yaml.contains("  - {id: line2-dlt645-2400-000000001201, bus: line2-dlt645-2400, address: \"000000001201\", profile: dlt645-2007-generic}"))
        let site = try SiteConfigLoader.load(text: yaml, file: "proposal.yaml", profiles: profiles)
        #expect(site.buses.count == 2 && site.devices.count == 3)
    }

    @Test func profilesAreMatchedByIdentificationAndMeterType() throws {
        let profiles = try ProfileLoader.loadDirectory(Paths.profiles)
        var modbus = ScanFinding(port: "p", protocolName: .modbus, settings: SerialSettings(), unit: 1)
        modbus.identification = ModbusIdentification(vendor: "EASTRON ", productCode: "SDM630")
        #expect(ScanProfileMatch.profile(for: modbus, among: profiles) == "eastron-sdm630")
        modbus.identification = ModbusIdentification(vendor: "Acme", productCode: "X1")
        #expect(ScanProfileMatch.profile(for: modbus, among: profiles) == nil)
        var water = ScanFinding(port: "p", protocolName: .cjt188, settings: SerialSettings(), address: "00000000000001")
        water.meterType = 0x10
        #expect(ScanProfileMatch.profile(for: water, among: profiles) == "cjt188-water-cold")
    }
}

/// The scanner on real ptys against the simulator's lines, in-process.
@Suite(.serialized) struct LineScannerTests {
    let clock = SystemClock()

    func device(_ unit: UInt8, _ profile: String, baud: Int? = nil) throws -> SimulatedDevice {
        let device = SimulatedDevice(unit: UnitID(unit), profile: try ProfileLoader.load(path: Paths.profiles + "/\(profile).yaml"),
                                     seed: UInt64(unit), clock: clock)
        device.baud = baud
        return device
    }

    func scan(_ options: ScanOptions) throws -> (findings: [ScanFinding], notes: [String]) {
        final class Notes { var texts: [String] = [] }
        let notes = Notes()
        let findings = try LineScanner(options: options, profiles: try ProfileLoader.loadDirectory(Paths.profiles)) { event in
            if case let .note(text) = event { notes.texts.append(text) }
        }.run()
        return (findings, notes.texts)
    }

    @Test func modbusUnitsAtTwoRatesWithTheirProfilesAndParityLeftOutOnAPty() throws {
        let server = try RTULineServer(id: "mixed", settings: SerialSettings(baud: 9600), devices: [
            try device(1, "eastron-sdm120"), try device(7, "eastron-sdm630", baud: 2400), try device(12, "generic-modbus-gas"),
        ])
        try server.start()
        defer { server.stop() }
        let (findings, notes) = try scan(ScanOptions(ports: [server.slavePath], bauds: [2400, 9600], parities: [.none, .even],
                                                     units: Array(1...12), protocols: [.modbus], turnaroundMs: 20))
        #expect(findings.map(\.line) == [
            "found modbus unit 7 at 2400 8N1: Eastron SDM630 (profile eastron-sdm630)",
            "found modbus unit 1 at 9600 8N1: Eastron SDM120 (profile eastron-sdm120)",
            "found modbus unit 12 at 9600 8N1: no device identification (profile unknown)",
        ])
        #expect(notes.count == 1 && notes[0].contains("cannot take parity even"))
    }

    @Test func collidingDLT645MetersAreAllFoundAtTheirRates() throws {
        let profile = try ProfileLoader.load(path: Paths.profiles + "/dlt645-2007-generic.yaml")
        func meter(_ address: String, _ unit: UInt8, baud: Int? = nil) throws -> DLT645SimulatedMeter {
            let device = SimulatedDevice(unit: UnitID(unit), profile: profile, seed: UInt64(unit), clock: clock)
            device.baud = baud
            return DLT645SimulatedMeter(address: try DLT645Address(address), device: device)
        }
        let server = try DLT645LineServer(id: "dlt", settings: SerialSettings(baud: 9600), meters: [
            try meter("000000001201", 1), try meter("000000003402", 2), try meter("000000005603", 3, baud: 2400),
        ], clock: clock)
        try server.start()
        defer { server.stop() }
        let (findings, _) = try scan(ScanOptions(ports: [server.slavePath], bauds: [2400, 9600], parities: [.none],
                                                 units: [], protocols: [.dlt645], turnaroundMs: 20))
        #expect(findings.map(\.line) == [
            "found dlt645 meter 000000005603 at 2400 8N1 (profile dlt645-2007-generic)",
            "found dlt645 meter 000000001201 at 9600 8N1 (profile dlt645-2007-generic)",
            "found dlt645 meter 000000003402 at 9600 8N1 (profile dlt645-2007-generic)",
        ])
    }

    @Test func collidingCJT188MetersAreFoundWithTheProfileOfTheirType() throws {
        func meter(_ address: String, _ unit: UInt8, _ profile: String) throws -> CJT188SimulatedMeter {
            let device = try device(unit, profile)
            return CJT188SimulatedMeter(address: try #require(CJT188Address(written: address)),
                                        meterType: CJT188SimulatedMeter.meterType(for: device.profile), device: device)
        }
        let server = try CJT188LineServer(id: "mbus", settings: SerialSettings(baud: 9600), meters: [
            try meter("00000000001234", 1, "cjt188-water-cold"), try meter("00000012345678", 2, "cjt188-gas"),
        ], clock: clock)
        try server.start()
        defer { server.stop() }
        let (findings, _) = try scan(ScanOptions(ports: [server.slavePath], bauds: [9600], parities: [.none],
                                                 units: [], protocols: [.cjt188], turnaroundMs: 20))
        #expect(findings.map(\.line) == [
            "found cjt188 meter 00000000001234 at 9600 8N1: meter type 0x10 (profile cjt188-water-cold)",
            "found cjt188 meter 00000012345678 at 9600 8N1: meter type 0x30 (profile cjt188-gas)",
        ])
    }
}
