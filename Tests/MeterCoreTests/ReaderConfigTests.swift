import Testing
@testable import MeterCore

/// The site config's `readers:`: card readers on ports of their own, guarding a switchable device.
@Suite struct ReaderConfigTests {
    static let site = """
    gateway: gw-1
    buses:
      - {id: rs485, type: serial, port: /dev/ttyS1, protocol: dlt645}
    devices:
      - {id: bay-1, bus: rs485, address: "000000000001", profile: dlt645-2007-generic}
      - {id: flat-csg, bus: rs485, address: "000000000002", profile: dlt645-2007-csg}
    readers:

    """

    @Test func readersAreReadWithTheirDefaults() throws {
        let text = Self.site + """
          - {id: door, type: rdm6300, port: /dev/ttyS2}
          - {id: bay-1-nfc, type: pn532, port: "usb:0403:6001", supply_point: bay-1, debounce_ms: 500}
        """
        let site = try SiteConfigLoader.load(text: text, file: "s.yaml", profiles: try Repo.profiles())
        #expect(site.readers == [
            CardReaderConfig(id: ReaderID("door"), type: .rdm6300, port: "/dev/ttyS2", baud: 9600),
            CardReaderConfig(id: ReaderID("bay-1-nfc"), type: .pn532, port: "usb:0403:6001", baud: 115_200,
                             supplyPoint: DeviceID("bay-1"), debounceMs: 500),
        ])
        #expect(site.reader(ReaderID("door"))?.supplyPoint == nil)
    }

    @Test func mistakesAreReportedWhereTheyAre() throws {
        let text = Self.site + """
          - {id: a, type: rdm6300, port: /dev/ttyS1}
          - {id: b, type: mifare, port: /dev/ttyS3}
          - {id: c, type: pn532, port: /dev/ttyS4, supply_point: bay-9}
          - {id: d, type: pn532, port: /dev/ttyS5, supply_point: flat-csg}
          - {id: e, type: rdm6300, port: /dev/ttyS6, baud: 300, colour: red}
          - {id: f, type: rdm6300, port: /dev/ttyS7}
          - {id: f, type: rdm6300, port: /dev/ttyS7}
        """
        let errors = siteErrors(text, file: "s.yaml", profiles: try Repo.profiles())
        #expect(errors.contains("s.yaml:8:34: port '/dev/ttyS1' is already used by bus 'rs485'"))
        #expect(errors.contains("s.yaml:9:19: unknown reader type 'mifare' (expected one of: rdm6300, pn532)"))
        #expect(errors.contains("s.yaml:10:58: unknown device 'bay-9' for supply_point (devices: bay-1, flat-csg)"))
        #expect(errors.contains { $0.hasPrefix("s.yaml:11:58: device 'flat-csg' (profile 'dlt645-2007-csg') has no relay.close and relay.open") })
        #expect(errors.contains("s.yaml:12:52: baud 300 out of range 1200–921600"))
        #expect(errors.contains { $0.hasPrefix("s.yaml:12:57: unknown key 'colour' in reader 'e'") })
        #expect(errors.contains("s.yaml:14:10: duplicate reader id 'f' (first at line 13)"))
        #expect(errors.contains("s.yaml:14:34: port '/dev/ttyS7' is already used by reader 'f'"))
    }
}
