import ArgumentParser
import MeterAgent
import MeterCore
import MeterIO

struct Ports: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List serial ports with their USB identity.",
        discussion: "A site config may name a port as usb:VID:PID[:SERIAL] so that it survives renumbering of /dev/ttyUSB*."
    )

    @Flag(help: "Print JSON lines instead of a table.")
    var json = false

    func run() throws {
        let ports = SerialPortScanner.list()
        if json {
            for p in ports {
                var w = JSONWriter()
                w.raw("{\"name\":"); w.string(p.name)
                w.raw(",\"description\":"); w.string(p.description)
                w.raw(",\"transport\":"); w.string(p.transport.rawValue)
                if let vid = p.usbVendorID, let pid = p.usbProductID {
                    w.raw(",\"usb\":"); w.string(usbIdentity(vid, pid, p.serialNumber))
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
            let usb = p.usbVendorID.flatMap { vid in p.usbProductID.map { usbIdentity(vid, $0, nil) } } ?? "-"
            rows.append([p.name, usb, p.serialNumber ?? "-", p.description])
        }
        print(TextFormat.table(rows), terminator: "")
    }
}

private func usbIdentity(_ vid: UInt16, _ pid: UInt16, _ serial: String?) -> String {
    func hex4(_ v: UInt16) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
    return "usb:\(hex4(vid)):\(hex4(pid))" + (serial.map { ":" + $0 } ?? "")
}
