import MeterProtocols

/// Profiles of meters addressed by data identifier (DL/T 645, CJ/T 188): points name a `di` and a
/// `format` instead of a register, and DL/T 645 profiles may say how the meter takes relay commands.
extension ProfileLoader {
    static let dataPointKeys = ["name", "di", "format", "signed", "scale", "unit", "billing"] + stateKeys
    static let relayKeys = ["password_level", "accepted", "deadline_s"]

    /// N1 codes of DL/T 645 relay control by the names profiles use.
    public static let relayCodeNames: [(name: String, code: UInt8)] = [
        ("trip", 0x1A), ("close_allowed", 0x1B), ("direct_close", 0x1C), ("alarm", 0x2A),
        ("alarm_off", 0x2B), ("keep_power", 0x3A), ("release", 0x3B),
    ]

    /// Bytes of a data identifier on the wire for each protocol.
    static func diBytes(for wire: WireProtocol) -> Int {
        wire == .dlt645 ? 4 : 2
    }

    static func decodeDataPoint(_ node: YAMLNode, protocol wire: WireProtocol,
                                into d: inout ConfigDiagnostics) -> (DataPointDefinition, YAMLNode)? {
        let label = node["name"]?.scalar.map { "point '\($0)'" } ?? "point"
        guard let m = d.mapping(node, what: label, allowed: dataPointKeys, required: ["name", "di", "format"]) else { return nil }
        let before = d.errors.count
        let name = d.string(m, "name")
        if let name, !isPointName(name) {
            d.report(m["name"]!, "invalid point name '\(name)' (expected dotted lower-case words, e.g. energy.import.total)")
        }
        let width = diBytes(for: wire)
        var di: UInt32?
        if let node = m["di"], let text = d.string(node, "di") {
            let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? String(text.dropFirst(2)) : text
            if digits.count == width * 2, digits.allSatisfy(\.isHexDigit), let value = UInt32(digits, radix: 16) {
                di = value
            } else {
                d.report(node, "bad data identifier '\(text)' (\(wire.rawValue) uses \(width * 2) hex digits, e.g. \(width == 4 ? "00010000" : "9010"))")
            }
        }
        let signed = m["signed"] == nil ? false : d.bool(m, "signed")
        var format: DataFormat?
        if let node = m["format"], let text = d.string(node, "format"), let signed {
            format = DataFormat(notation: text, signed: signed)
            if format == nil {
                d.report(node, "bad format '\(text)' (expected BCD digits as X with an optional decimal point, e.g. XXXXXX.XX or XXX.XXX, a clock field YYMMDDWW, hhmmss, YYMMDDhhmmss, or NNNN for a raw status word)")
            }
        }
        let scale = m["scale"] == nil ? ExactDecimal.one : d.decimal(m, "scale")
        if let scale, scale.significand == 0 { d.report(m["scale"]!, "scale must not be 0") }
        let unit = m["unit"] == nil ? "" : d.string(m, "unit")
        let billing = m["billing"] == nil ? false : d.bool(m, "billing")
        guard d.errors.count == before, let name, let di, let format, let scale, let unit, let billing else { return nil }
        let point = DataPointDefinition(name: PointName(name), di: di, diBytes: width, format: format, scale: scale,
                                        unit: unit, billing: billing)
        return (point, m["name"]!)
    }

    static func decodeRelay(_ node: YAMLNode, protocol wire: WireProtocol?, into d: inout ConfigDiagnostics) -> RelayControlSettings? {
        guard let m = d.mapping(node, what: "relay", allowed: relayKeys) else { return nil }
        if let wire, wire != .dlt645 {
            d.report(node, "'relay' settings are for DL/T 645-2007 meters, not \(wire.rawValue)")
            return nil
        }
        var settings = RelayControlSettings()
        if m["password_level"] != nil {
            guard let level = d.integer(m, "password_level", range: 0...0xFF, label: "password level") else { return nil }
            settings.passwordLevel = UInt8(level)
        }
        if m["deadline_s"] != nil {
            guard let seconds = d.integer(m, "deadline_s", range: 10...86_400 * 30, label: "deadline") else { return nil }
            settings.deadlineSeconds = seconds
        }
        if let items = d.list(m, "accepted") {
            var codes: [UInt8] = []
            for item in items {
                let text = item.scalar ?? ""
                if let known = relayCodeNames.first(where: { $0.name == text }) {
                    codes.append(known.code)
                } else {
                    d.report(item, "unknown relay command \(describe(item)) (expected one of: \(relayCodeNames.map(\.name).joined(separator: ", ")))")
                    return nil
                }
            }
            settings.acceptedCodes = codes
        }
        return settings
    }
}
