import MeterProtocols

/// One serial port the system knows about, with its USB identity when it is an adapter.
public struct SerialPortInfo: Sendable, Hashable, CustomStringConvertible {
    public enum Transport: String, Sendable, Hashable {
        case native, usb, bluetooth, unknown
    }

    /// The device path, e.g. `/dev/ttyUSB0`.
    public var name: String
    public var description: String
    public var transport: Transport
    public var usbVendorID: UInt16?
    public var usbProductID: UInt16?
    public var serialNumber: String?
    public var manufacturer: String?
    public var product: String?

    public init(name: String, description: String = "", transport: Transport, usbVendorID: UInt16? = nil,
                usbProductID: UInt16? = nil, serialNumber: String? = nil, manufacturer: String? = nil,
                product: String? = nil) {
        self.name = name
        self.description = description
        self.transport = transport
        self.usbVendorID = usbVendorID
        self.usbProductID = usbProductID
        self.serialNumber = serialNumber
        self.manufacturer = manufacturer
        self.product = product
    }

    /// The stable name a site config can use instead of `/dev/ttyUSBn`, e.g. `usb:0403:6001:A10K3ZX1`.
    public var usbIdentity: String? {
        guard transport == .usb, let vid = usbVendorID, let pid = usbProductID else { return nil }
        var text = "usb:" + usbID(vid) + ":" + usbID(pid)
        if let serialNumber, !serialNumber.isEmpty { text += ":" + serialNumber }
        return text
    }
}

/// A `usb:VID:PID[:SERIAL]` port name, parsed.
public struct USBPortIdentity: Sendable, Hashable, CustomStringConvertible {
    public var vendorID: UInt16
    public var productID: UInt16
    public var serialNumber: String?

    public init(vendorID: UInt16, productID: UInt16, serialNumber: String? = nil) {
        self.vendorID = vendorID
        self.productID = productID
        self.serialNumber = serialNumber
    }

    /// nil when `port` does not start with `usb:`; throws when it does but is malformed.
    public init?(parsing port: String) throws(PortResolutionError) {
        guard port.hasPrefix("usb:") else { return nil }
        let fields = port.dropFirst(4).split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count >= 2, fields[0].count == 4, fields[1].count == 4,
              let vid = UInt16(fields[0], radix: 16), let pid = UInt16(fields[1], radix: 16) else {
            throw PortResolutionError(port: port, message: "expected usb:VID:PID[:SERIAL] with 4 hex digits each, e.g. usb:0403:6001:A10K3ZX1")
        }
        vendorID = vid
        productID = pid
        serialNumber = fields.count == 3 && !fields[2].isEmpty ? String(fields[2]) : nil
    }

    public func matches(_ info: SerialPortInfo) -> Bool {
        guard info.transport == .usb, info.usbVendorID == vendorID, info.usbProductID == productID else { return false }
        if let serialNumber { return info.serialNumber == serialNumber }
        return true
    }

    public var description: String {
        "usb:" + usbID(vendorID) + ":" + usbID(productID) + (serialNumber.map { ":" + $0 } ?? "")
    }
}

/// A port name that does not lead to a device: no such adapter plugged in, or more than one.
public struct PortResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var port: String
    public var message: String

    public init(port: String, message: String) {
        self.port = port
        self.message = message
    }

    public var description: String { "port \(port): \(message)" }
}

/// A USB vendor or product id as lsusb and udev write it: four lower-case hex digits.
func usbID(_ value: UInt16) -> String { Hex.word(value).lowercased() }
