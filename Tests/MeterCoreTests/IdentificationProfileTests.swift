import Testing
@testable import MeterCore

/// A Modbus profile's `identification:` (what Read Device Identification answers), used by
/// `meteragent scan` to name the profile of a meter it finds.
@Suite struct IdentificationProfileTests {
    static func profile(_ extra: String, protocol wire: String = "modbus") throws(ConfigErrors) -> DeviceProfile {
        let points = wire == "modbus" ? "  - {name: voltage.l1, table: input, address: 0, type: f32}"
            : "  - {name: energy.total, di: \"00000000\", format: XXXXXX.XX}"
        return try ProfileLoader.load(text: "manufacturer: X\nmodel: Y\nmedium: electricity\nprotocol: \(wire)\n\(extra)\npoints:\n\(points)\n",
                                      file: "p.yaml", name: "p")
    }

    @Test func shippedEastronProfilesIdentifyThemselves() throws {
        let sdm630 = try ProfileLoader.load(path: Repo.path("Hardware/profiles/eastron-sdm630.yaml"))
        #expect(sdm630.identification == ModbusIdentification(vendor: "Eastron", productCode: "SDM630"))
        #expect(sdm630.identification?.matches(ModbusIdentification(vendor: "EASTRON  ", productCode: "sdm630", revision: "2.1")) == true)
        #expect(sdm630.identification?.matches(ModbusIdentification(vendor: "Eastron", productCode: "SDM120")) == false)
    }

    @Test func identificationIsCheckedWithItsLocation() throws {
        #expect(try Self.profile("identification: {vendor: Acme, product_code: M1, revision: \"3\"}").identification
                == ModbusIdentification(vendor: "Acme", productCode: "M1", revision: "3"))
        #expect(throws: ConfigErrors.self) { try Self.profile("identification: {vendor: Acme}") }
        do {
            _ = try Self.profile("identification: {vendor: Acme, product_code: M1}", protocol: "dlt645")
            Issue.record("identification accepted on a DL/T 645 profile")
        } catch {
            #expect(error.errors.map(\.description) == ["p.yaml:5:17: 'identification' is for Modbus profiles (read device identification, 0x2B/0x0E)"])
        }
    }
}
