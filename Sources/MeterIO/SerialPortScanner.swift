import CSerialPort

/// Port discovery through libserialport: which serial ports exist and, for USB adapters, who made
/// them and their serial number, so a config can name `usb:0403:6001:A10K3ZX1` and survive a
/// renumbered `/dev/ttyUSB*` after a reboot.
public enum SerialPortScanner {
    /// Every port libserialport sees, sorted by name. Empty when there are none or listing fails.
    public static func list() -> [SerialPortInfo] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        guard sp_list_ports(&list).rawValue == SP_OK.rawValue, let list else { return [] }
        // The list and every port in it belong to libserialport until this call.
        defer { sp_free_port_list(list) }
        var ports: [SerialPortInfo] = []
        var index = 0
        while let port = list[index] {
            ports.append(info(port))
            index += 1
        }
        return ports.sorted { $0.name < $1.name }
    }

    /// Turns a config's port into a device path: a `usb:VID:PID[:SERIAL]` identity is looked up
    /// among the plugged-in adapters; anything else is a path and is returned as written.
    public static func resolve(_ port: String) throws(PortResolutionError) -> String {
        guard port.hasPrefix("usb:") else { return port }
        return try resolve(port, among: list())
    }

    /// `resolve` against a given port list, so the matching rules are testable without hardware.
    public static func resolve(_ port: String, among ports: [SerialPortInfo]) throws(PortResolutionError) -> String {
        guard let identity = try USBPortIdentity(parsing: port) else { return port }
        let matches = ports.filter { identity.matches($0) }
        switch matches.count {
        case 1:
            return matches[0].name
        case 0:
            let usb = ports.compactMap(\.usbIdentity)
            let plugged = usb.isEmpty ? "no USB serial adapters are plugged in" : "plugged in: " + usb.joined(separator: ", ")
            throw PortResolutionError(port: port, message: "no such USB serial adapter (\(plugged))")
        default:
            // Guessing would put one bus's meters on another bus's wires.
            let names = matches.map { $0.name + ($0.usbIdentity.map { " (\($0))" } ?? "") }
            throw PortResolutionError(port: port, message: "\(matches.count) adapters match: \(names.joined(separator: ", ")); add the serial number to tell them apart")
        }
    }

    private static func info(_ port: OpaquePointer) -> SerialPortInfo {
        let transport: SerialPortInfo.Transport = switch sp_get_port_transport(port).rawValue {
        case SP_TRANSPORT_NATIVE.rawValue: .native
        case SP_TRANSPORT_USB.rawValue: .usb
        case SP_TRANSPORT_BLUETOOTH.rawValue: .bluetooth
        default: .unknown
        }
        var result = SerialPortInfo(
            name: string(sp_get_port_name(port)) ?? "",
            description: string(sp_get_port_description(port)) ?? "",
            transport: transport
        )
        if transport == .usb {
            var vid: Int32 = 0
            var pid: Int32 = 0
            if sp_get_port_usb_vid_pid(port, &vid, &pid).rawValue == SP_OK.rawValue {
                result.usbVendorID = UInt16(truncatingIfNeeded: vid)
                result.usbProductID = UInt16(truncatingIfNeeded: pid)
            }
            result.serialNumber = string(sp_get_port_usb_serial(port))
            result.manufacturer = string(sp_get_port_usb_manufacturer(port))
            result.product = string(sp_get_port_usb_product(port))
        }
        return result
    }

    /// libserialport's strings live inside the port struct (freed with the list): copy them out.
    private static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }
}
