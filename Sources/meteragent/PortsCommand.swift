import CommandLineKit
import MeterAgent
import MeterCore
import MeterIO

struct Ports: Command {
    static let spec = CommandSpec(
        "ports",
        abstract: "List serial ports with their USB identity.",
        discussion: "A site config may name a port as usb:VID:PID[:SERIAL] so that it survives renumbering of /dev/ttyUSB*.",
        parameters: [.flag("json", help: "Print JSON lines instead of a table.")]
    )

    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        json = values.flag("json")
    }

    func run() throws {
        let ports = SerialPortScanner.list()
        if json {
            for p in ports {
                var w = JSONWriter()
                w.raw("{\"name\":"); w.string(p.name)
                w.raw(",\"description\":"); w.string(p.description)
                w.raw(",\"transport\":"); w.string(p.transport.rawValue)
                if let vid = p.usbVendorID, let pid = p.usbProductID {
                    w.raw(",\"usb\":"); w.string(USBPortIdentity(vendorID: vid, productID: pid, serialNumber: p.serialNumber).description)
                }
                if let s = p.serialNumber { w.raw(",\"serial_number\":"); w.string(s) }
                w.raw("}")
                print(w.text)
            }
            return
        }
        if ports.isEmpty {
            print("no serial ports found")
            return
        }
        var rows = [["PORT", "USB ID", "SERIAL", "DESCRIPTION"]]
        for p in ports {
            let usb = p.usbVendorID.flatMap { vid in p.usbProductID.map { USBPortIdentity(vendorID: vid, productID: $0).description } } ?? "-"
            rows.append([p.name, usb, p.serialNumber ?? "-", p.description])
        }
        print(TextFormat.table(rows), terminator: "")
    }
}
