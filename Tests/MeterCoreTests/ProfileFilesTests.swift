import MeterProtocols
import Testing
@testable import MeterCore

/// Every profile shipped in Hardware/profiles loads, validates and plans.
@Suite struct ProfileFilesTests {
    @Test(arguments: try Repo.yamlFiles(in: "Hardware/profiles"))
    func profileLoadsAndPlans(file: String) throws {
        let profile = try ProfileLoader.load(path: Repo.profilesDirectory + "/" + file)
        #expect(profile.name + ".yaml" == file)
        // Modbus profiles have register points; DL/T 645 and CJ/T 188 profiles data points.
        #expect(!profile.pointNames.isEmpty)
        let reads = try profile.planner.plan(profile.points.map(\.span))
        let covered = reads.flatMap(\.members).map(\.point).sorted()
        #expect(covered == Array(profile.points.indices))
        for read in reads where !read.table.isBitTable {
            #expect(read.count <= profile.maxRegistersPerRead)
        }
    }

    @Test func directoryHoldsTheShippedProfiles() throws {
        let profiles = try Repo.profiles()
        #expect(Set(profiles.keys).isSuperset(of: ["eastron-sdm120", "eastron-sdm630", "tuf2000m-water", "generic-modbus-gas"]))
        #expect(ProfileLoader.profileNames(in: Repo.profilesDirectory)?.contains("eastron-sdm120") == true)
    }

    @Test func sdm120Map() throws {
        let p = try ProfileLoader.load(path: Repo.profilesDirectory + "/eastron-sdm120.yaml")
        #expect(p.medium == .electricity && !p.generic && p.maxRegistersPerRead == 40)
        let expected: [(String, UInt16, Bool)] = [
            ("voltage.l1", 0x0000, false), ("current.l1", 0x0006, false), ("power.active.total", 0x000C, false),
            ("power.apparent.total", 0x0012, false), ("power.reactive.total", 0x0018, false),
            ("power_factor.total", 0x001E, false), ("frequency", 0x0046, false),
            ("energy.import.total", 0x0048, true), ("energy.export.total", 0x004A, true), ("energy.total", 0x0156, true),
        ]
        #expect(p.points.count == expected.count)
        for (name, address, billing) in expected {
            let point = try #require(p.point(named: PointName(name)), "\(name)")
            #expect(point.address == address, "\(name)")
            #expect(point.billing == billing, "\(name)")
            #expect(point.table == .input && point.type == .f32 && point.wordOrder == .ABCD, "\(name)")
        }
    }

    @Test func sdm630Map() throws {
        let p = try ProfileLoader.load(path: Repo.profilesDirectory + "/eastron-sdm630.yaml")
        let addresses = Dictionary(uniqueKeysWithValues: p.points.map { ($0.name.rawValue, $0.address) })
        #expect(addresses["voltage.l3"] == 0x0004)
        #expect(addresses["current.l3"] == 0x000A)
        #expect(addresses["power.active.l3"] == 0x0010)
        #expect(addresses["power.active.total"] == 0x0034)
        #expect(addresses["power_factor.total"] == 0x003E)
        #expect(addresses["energy.total"] == 0x0156)
        #expect(p.points.allSatisfy { $0.table == .input && $0.type == .f32 })
    }

    @Test func tuf2000mUsesZeroBasedAddressesAndCDAB() throws {
        let p = try ProfileLoader.load(path: Repo.profilesDirectory + "/tuf2000m-water.yaml")
        #expect(p.medium == .water)
        let flow = try #require(p.point(named: PointName("flow.rate")))
        #expect(flow.table == .holding && flow.address == 0 && flow.type == .f32 && flow.wordOrder == .CDAB)
        // 36.625 is 0x42128000: low word first on the wire.
        let (value, quality) = flow.decode([0x8000, 0x4212] as [UInt16])
        #expect(quality == .good)
        #expect(value == .real(36.625))
        // PROTOCOLS.md quotes `80 6B 42 12` as 36.625; it is 0x4212806B, a hair above: exponent
        // 0x84 (2^5) × mantissa 1 + 0x12806B / 2^23 = 36.6254081726…, whose shortest float32
        // round-trip text is 36.62541.
        #expect(flow.decode([0x806B, 0x4212] as [UInt16]).0 == .real(36.62541))
        #expect(p.point(named: PointName("volume.total"))?.address == 24)
        #expect(p.point(named: PointName("volume.total"))?.type == .i32)
        #expect(p.point(named: PointName("volume.total"))?.billing == true)
        #expect(p.point(named: PointName("signal.quality"))?.address == 91)
    }

    @Test func gasProfileIsGenericWithValveAndBattery() throws {
        let p = try ProfileLoader.load(path: Repo.profilesDirectory + "/generic-modbus-gas.yaml")
        #expect(p.generic && p.medium == .gas)
        let volume = try #require(p.point(named: PointName("volume.total")))
        #expect(volume.scale == ExactDecimal(significand: 1, exponent: -3))
        #expect(volume.decode([0x0001, 0xE240] as [UInt16]).0?.description == "123.456")
        let temperature = try #require(p.point(named: PointName("temperature")))
        #expect(temperature.decode([0xFF38] as [UInt16]).0?.description == "-20.0")
        #expect(p.point(named: PointName("valve.state"))?.table == .coil)
        #expect(p.point(named: PointName("valve.state"))?.type == .bool)
        #expect(p.point(named: PointName("battery.low"))?.table == .discrete)
        #expect(p.point(named: PointName("battery.low"))?.type == .bool)
    }
}
