/// Devices on DL/T 645 and CJ/T 188 lines: a BCD meter address instead of a Modbus unit id, and
/// for DL/T 645 the password and operator code that write and relay commands carry.
extension SiteConfigLoader {
    struct Addressing {
        /// True when the device's line speaks a protocol addressed by meter number.
        var usesAddress: Bool
        var address: String?
        var credentials: MeterCredentials?
    }

    /// Checks `unit`/`address`/`password`/`operator` against the protocol of the device's line
    /// (`protocol` is nil when the bus is unknown, which is reported elsewhere).
    static func decodeAddressing(_ m: CheckedMapping, label: String, bus: String?, protocol wire: WireProtocol?,
                                 into d: inout ConfigDiagnostics) -> Addressing {
        guard let wire, wire.usesMeterAddress else {
            let on = bus.map { " (bus '\($0)' speaks modbus)" } ?? ""
            for key in ["address", "password", "operator"] {
                if let node = m[key] { d.report(node, "'\(key)' is for DL/T 645 and CJ/T 188 meters, not Modbus devices\(on)") }
            }
            if m["unit"] == nil { d.report(m.node, "missing key 'unit' in \(label)") }
            return Addressing(usesAddress: false)
        }
        let digits = wire.addressDigits
        let busName = bus ?? "?"
        if let node = m["unit"] {
            d.report(node, "'unit' is a Modbus unit id; bus '\(busName)' speaks \(wire.rawValue): give the meter's \(digits)-digit 'address' instead")
        }
        var result = Addressing(usesAddress: true)
        if let node = m["address"] {
            if let text = d.string(node, "address") {
                if text.count == digits, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    if text == String(repeating: "9", count: digits) {
                        d.report(node, "address \(text) is the broadcast address, not a meter")
                    } else {
                        result.address = text
                    }
                } else {
                    d.report(node, "bad meter address '\(text)' (\(wire.rawValue) addresses are \(digits) decimal digits as printed on the nameplate, e.g. \(String("121078563412000".prefix(digits))))")
                }
            }
        } else {
            d.report(m.node, "missing key 'address' in \(label) (\(wire.rawValue) meters are addressed by their \(digits)-digit meter number)")
        }
        if m["password"] != nil || m["operator"] != nil {
            if wire != .dlt645 {
                for key in ["password", "operator"] {
                    if let node = m[key] { d.report(node, "'\(key)' is for DL/T 645-2007 meters, not \(wire.rawValue)") }
                }
            } else {
                var credentials = MeterCredentials()
                if let node = m["password"] {
                    if let text = hexDigits(node, key: "password", count: 6, into: &d) { credentials.password = text }
                }
                if let node = m["operator"] {
                    if let text = hexDigits(node, key: "operator", count: 8, into: &d) { credentials.operatorCode = text }
                }
                result.credentials = credentials
            }
        }
        return result
    }

    /// A secret written as exactly `count` hex digits; the message never repeats the value.
    private static func hexDigits(_ node: YAMLNode, key: String, count: Int, into d: inout ConfigDiagnostics) -> String? {
        guard let text = node.scalar, !node.isNull, text.count == count, text.allSatisfy(\.isHexDigit) else {
            d.report(node, "bad \(key): expected \(count) digits in quotes, e.g. \"\(String(repeating: "0", count: count))\"")
            return nil
        }
        return text.uppercased()
    }
}
