import MeterProtocols
import Testing
@testable import MeterCore

/// DL/T 645 profiles and devices in a site config: addresses instead of units, data identifiers
/// instead of registers, relay settings and credentials; every error at its file:line:column.
@Suite struct DLT645ConfigTests {
    @Test func shippedProfilesDecode() throws {
        let profiles = try Repo.profiles()
        let generic = try #require(profiles["dlt645-2007-generic"])
        #expect(generic.protocolName == .dlt645 && generic.points.isEmpty)
        #expect(generic.serialDefaults == SerialSettings(baud: 2400, parity: .even))
        let current = try #require(generic.dataPoint(named: PointName("current.l1")))
        #expect(current.di == 0x0202_0100 && current.diBytes == 4 && current.diText == "02020100")
        #expect(current.format == DataFormat(.bcd(digits: 6, decimals: 3, signed: true)) && current.unit == "A")
        let power = try #require(generic.dataPoint(named: PointName("power.active.total")))
        #expect(power.scale == ExactDecimal("1000"))
        #expect(generic.dataPoint(named: PointName("relay.status_word"))?.format == DataFormat(.binary(bytes: 2)))
        #expect(generic.dataPoint(named: PointName("clock.date"))?.format == DataFormat(.clock(pattern: "YYMMDDWW")))
        #expect(generic.relay == RelayControlSettings(passwordLevel: 2, acceptedCodes: [0x1A, 0x1B, 0x1C, 0x2A, 0x2B, 0x3A, 0x3B], deadlineSeconds: 600))
        let csg = try #require(profiles["dlt645-2007-csg"])
        #expect(csg.relay?.passwordLevel == 3 && csg.relay?.acceptedCodes.contains(0x1A) == false)
        let old = try #require(profiles["dlt645-1997-generic"])
        #expect(old.protocolName == .dlt645_1997 && old.dataPoints.first?.di == 0x9010 && old.dataPoints.first?.diBytes == 2)
    }

    @Test func formatNotation() {
        #expect(DataFormat(notation: "XXXXXX.XX")?.byteCount == 4)
        #expect(DataFormat(notation: "XXX.X") == DataFormat(.bcd(digits: 4, decimals: 1, signed: false)))
        #expect(DataFormat(notation: "XXXX") == DataFormat(.bcd(digits: 4, decimals: 0, signed: false)))
        #expect(DataFormat(notation: "XXX")?.byteCount == 2)   // DL/T 645-1997 voltage
        #expect(DataFormat(notation: "XXXX.") == nil)
        #expect(DataFormat(notation: "NNNN") == DataFormat(.binary(bytes: 2)))
        #expect(DataFormat(notation: "hhmmss")?.byteCount == 3)
        #expect(DataFormat(notation: "12.34") == nil)
    }

    @Test func badDataPointsAreReportedWhereTheyAre() {
        let text = """
        manufacturer: X
        model: Y
        medium: electricity
        protocol: dlt645
        relay: {password_level: 3, accepted: [trip, explode]}
        points:
          - {name: energy.total, di: "0000000", format: XXXXXX.XX}
          - {name: voltage.l1, di: "02010100", format: XX.X.X}
          - {name: current.l1, di: "02020100", format: XXX.XXX, table: input}
          - {name: frequency, format: XX.XX}
        """
        let errors = Self.profileErrors(text)
        #expect(errors.contains("p.yaml:5:45: unknown relay command 'explode' (expected one of: trip, close_allowed, direct_close, alarm, alarm_off, keep_power, release)"))
        #expect(errors.contains { $0.hasPrefix("p.yaml:7:30: bad data identifier '0000000' (dlt645 uses 8 hex digits") })
        #expect(errors.contains { $0.hasPrefix("p.yaml:8:48: bad format 'XX.X.X'") })
        #expect(errors.contains { $0.hasPrefix("p.yaml:9:57: unknown key 'table' in point 'current.l1'") })
        #expect(errors.contains("p.yaml:10:5: missing key 'di' in point 'frequency'"))
    }

    @Test func relayIsOnlyForDLT645() {
        let text = """
        manufacturer: X
        model: Y
        medium: electricity
        protocol: dlt645_1997
        relay: {password_level: 3}
        points:
          - {name: energy.total, di: "9010", format: XXXXXX.XX}
        """
        #expect(Self.profileErrors(text) == ["p.yaml:5:8: 'relay' settings are for DL/T 645-2007 meters, not dlt645_1997"])
    }

    static func profileErrors(_ text: String) -> [String] {
        do {
            _ = try ProfileLoader.load(text: text, file: "p.yaml", name: "p")
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    static let site = """
    gateway: gw
    buses:
      - {id: dlt, type: serial, port: /dev/ttyS1, baud: 2400, parity: even, protocol: dlt645}
      - {id: mb, type: serial, port: /dev/ttyS2}
    devices:

    """

    static func siteErrors(_ devices: String) throws -> [String] {
        let profiles = try Repo.profiles()
        do throws(ConfigErrors) {
            _ = try SiteConfigLoader.load(text: site + devices, file: "s.yaml", profiles: profiles)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func deviceWithAddressAndCredentials() throws {
        let text = Self.site + """
          - {id: m1, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, password: "12ab56", operator: "00000301"}
          - {id: m2, bus: dlt, address: "202611250302", profile: dlt645-2007-generic}
          - {id: m3, bus: mb, unit: 3, profile: eastron-sdm120}
        """
        let config = try SiteConfigLoader.load(text: text, file: "s.yaml", profiles: try Repo.profiles())
        let m1 = try #require(config.device(DeviceID("m1")))
        #expect(m1.address == "202611250301" && m1.credentials == MeterCredentials(password: "12AB56", operatorCode: "00000301"))
        #expect(config.device(DeviceID("m2"))?.credentials == nil)
        #expect(config.device(DeviceID("m3"))?.address == nil && config.device(DeviceID("m3"))?.unit == UnitID(3))
        #expect(config.bus(BusID("dlt"))?.protocolName == .dlt645)
        // Without baud and parity a DL/T 645 line gets 2400 8E1, a Modbus line 9600 8N1.
        let lines = try SiteConfigLoader.load(text: """
            gateway: gw
            buses:
              - {id: a, type: serial, port: /dev/ttyS1, protocol: dlt645}
              - {id: b, type: serial, port: /dev/ttyS2, protocol: dlt645_1997, baud: 2400}
              - {id: c, type: serial, port: /dev/ttyS3}
            """, file: "s.yaml", profiles: [:])
        #expect(lines.bus(BusID("a"))?.transport == .serial(port: "/dev/ttyS1", settings: SerialSettings(baud: 2400, parity: .even), rs485: false))
        #expect(lines.bus(BusID("b"))?.transport == .serial(port: "/dev/ttyS2", settings: SerialSettings(baud: 2400, parity: .even), rs485: false))
        #expect(lines.bus(BusID("c"))?.transport == .serial(port: "/dev/ttyS3", settings: SerialSettings(), rs485: false))
        // The secret never shows in text made from the config.
        #expect(!"\(m1)".contains("12AB56") && !String(reflecting: m1).contains("12AB56"))
    }

    @Test func addressingErrors() throws {
        let errors = try Self.siteErrors("""
          - {id: a, bus: dlt, unit: 3, profile: dlt645-2007-generic}
          - {id: b, bus: dlt, address: "12345", profile: dlt645-2007-generic}
          - {id: c, bus: dlt, address: "999999999999", profile: dlt645-2007-generic}
          - {id: d, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, password: "12345"}
          - {id: e, bus: dlt, address: "202611250301", profile: dlt645-2007-generic}
          - {id: f, bus: mb, address: "202611250309", profile: eastron-sdm120}
          - {id: g, bus: mb, unit: 4, profile: dlt645-2007-generic}
        """)
        #expect(errors.contains("s.yaml:6:29: 'unit' is a Modbus unit id; bus 'dlt' speaks dlt645: give the meter's 12-digit 'address' instead"))
        #expect(errors.contains("s.yaml:6:5: missing key 'address' in device 'a' (dlt645 meters are addressed by their 12-digit meter number)"))
        #expect(errors.contains { $0.hasPrefix("s.yaml:7:32: bad meter address '12345' (dlt645 addresses are 12 decimal digits") })
        #expect(errors.contains("s.yaml:8:32: address 999999999999 is the broadcast address, not a meter"))
        #expect(errors.contains("s.yaml:9:88: bad password: expected 6 digits in quotes, e.g. \"000000\""))
        #expect(errors.contains("s.yaml:10:32: address 202611250301 on bus 'dlt' is already used by device 'd'"))
        #expect(errors.contains("s.yaml:11:31: 'address' is for DL/T 645 and CJ/T 188 meters, not Modbus devices (bus 'mb' speaks modbus)"))
        #expect(errors.contains("s.yaml:11:5: missing key 'unit' in device 'f'"))
        #expect(errors.contains { $0.hasPrefix("s.yaml:12:40: profile 'dlt645-2007-generic' speaks dlt645 but bus 'mb' speaks modbus") })
        // The password's digits are not repeated in the message.
        #expect(!errors.joined().contains("12345\""))
    }
}
