import Testing
import MeterIO

@Suite struct SerialPortScannerTests {
    @Test func listingDoesNotCrash() {
        let ports = SerialPortScanner.list()
        for port in ports {
            #expect(port.name.hasPrefix("/dev/"))
        }
    }

    @Test func pathsPassThrough() throws {
        #expect(try SerialPortScanner.resolve("/dev/ttyS0") == "/dev/ttyS0")
        #expect(try SerialPortScanner.resolve("/dev/pts/7", among: []) == "/dev/pts/7")
    }

    private let adapters = [
        SerialPortInfo(name: "/dev/ttyS0", transport: .native),
        SerialPortInfo(name: "/dev/ttyUSB1", transport: .usb, usbVendorID: 0x0403, usbProductID: 0x6001, serialNumber: "A10K3ZX1"),
        SerialPortInfo(name: "/dev/ttyUSB0", transport: .usb, usbVendorID: 0x0403, usbProductID: 0x6001, serialNumber: "B20Q9"),
        SerialPortInfo(name: "/dev/ttyACM0", transport: .usb, usbVendorID: 0x1A86, usbProductID: 0x7523),
    ]

    @Test func usbIdentityWithSerialPicksThatAdapter() throws {
        #expect(try SerialPortScanner.resolve("usb:0403:6001:A10K3ZX1", among: adapters) == "/dev/ttyUSB1")
        #expect(try SerialPortScanner.resolve("usb:0403:6001:B20Q9", among: adapters) == "/dev/ttyUSB0")
        #expect(try SerialPortScanner.resolve("usb:1a86:7523", among: adapters) == "/dev/ttyACM0")
        #expect(adapters[1].usbIdentity == "usb:0403:6001:A10K3ZX1")
    }

    @Test func ambiguousOrMissingAdaptersAreErrors() {
        #expect(throws: PortResolutionError.self) { try SerialPortScanner.resolve("usb:0403:6001", among: adapters) }
        do {
            _ = try SerialPortScanner.resolve("usb:0403:6015", among: adapters)
            Issue.record("a missing adapter resolved")
        } catch {
            #expect(error.description.contains("no such USB serial adapter"))
            #expect(error.description.contains("usb:0403:6001:A10K3ZX1"))
        }
        #expect(throws: PortResolutionError.self) { try SerialPortScanner.resolve("usb:403:6001", among: adapters) }
        #expect(throws: PortResolutionError.self) { try SerialPortScanner.resolve("usb:zzzz:6001", among: adapters) }
    }
}
