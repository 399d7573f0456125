import MeterProtocols

/// CJ/T 188 profiles: points name a field of the current-data reply (`field: current`) rather
/// than a BCD format, and the profile gives the meter type byte and the DI byte order.
///
/// ```yaml
/// protocol: cjt188
/// meter_type: cold_water          # cold_water hot_water drinking_water reclaimed_water heat cooling gas, or 0x10
/// di_order: high_first            # high_first (90 1F, default) | low_first (1F 90)
/// clock_order: seconds_first      # seconds_first (ss mm hh DD MM YY CC, default) | year_first
/// points:
///   - {name: volume.total, field: current, unit: m³, billing: true}    # di defaults to 901F
/// ```
extension ProfileLoader {
    static let cjt188TopKeys = ["meter_type", "di_order", "clock_order"]
    static let cjt188PointKeys = ["name", "di", "field", "unit", "billing"] + stateKeys

    static func decodeCJT188Point(_ node: YAMLNode, fields: inout [PointName: CJT188Field],
                                  into d: inout ConfigDiagnostics) -> (DataPointDefinition, YAMLNode)? {
        let label = node["name"]?.scalar.map { "point '\($0)'" } ?? "point"
        guard let m = d.mapping(node, what: label, allowed: cjt188PointKeys, required: ["name", "field"]) else { return nil }
        let before = d.errors.count
        let name = d.string(m, "name")
        if let name, !isPointName(name) {
            d.report(m["name"]!, "invalid point name '\(name)' (expected dotted lower-case words, e.g. volume.total)")
        }
        var di = UInt32(CJT188DataID.currentData.rawValue)
        if let node = m["di"], let text = d.string(node, "di") {
            // Only current data is read so far; anything else would be silently never asked.
            if text.uppercased() != "901F" && text.uppercased() != "0X901F" {
                d.report(node, "unsupported data identifier '\(text)' (CJ/T 188 points read current data, di 901F)")
            } else {
                di = 0x901F
            }
        }
        let field = d.choice(m, "field", as: CJT188Field.self, label: "CJ/T 188 field")
        let unit = m["unit"] == nil ? "" : d.string(m, "unit")
        let billing = m["billing"] == nil ? false : d.bool(m, "billing")
        guard d.errors.count == before, let name, let field, let unit, let billing else { return nil }
        let format: DataFormat = switch field {
        case .current, .settlement: DataFormat(.bcd(digits: 8, decimals: 2, signed: false))
        case .clock: DataFormat(.clock(pattern: "ssmmhhDDMMYY"))
        case .valveOpen, .valveFault, .batteryLow, .status: DataFormat(.bcd(digits: 4, decimals: 0, signed: false))
        }
        let point = DataPointDefinition(name: PointName(name), di: di, diBytes: 2, format: format, unit: unit, billing: billing)
        fields[point.name] = field
        return (point, m["name"]!)
    }

    /// The profile-level CJ/T 188 keys; reports them on profiles of other protocols.
    static func decodeCJT188Settings(_ top: CheckedMapping, protocol wire: WireProtocol?, fields: [PointName: CJT188Field],
                                     into d: inout ConfigDiagnostics) -> CJT188Settings? {
        guard wire == .cjt188 else {
            for key in cjt188TopKeys {
                if let node = top[key] { d.report(node, "'\(key)' is for CJ/T 188 profiles (protocol: cjt188)") }
            }
            return nil
        }
        var meterType: CJT188MeterType?
        if let node = top["meter_type"] {
            if let text = d.string(node, "meter_type") {
                meterType = CJT188MeterType(name: text)
                if meterType == nil {
                    d.report(node, "unknown meter type '\(text)' (expected one of: \(CJT188MeterType.named.map(\.name).joined(separator: ", ")), or a byte such as 0x10)")
                }
            }
        } else {
            d.report(top.node, "missing key 'meter_type' in profile (CJ/T 188 frames carry the meter type, e.g. cold_water, gas)")
        }
        let order = top["di_order"] == nil ? .highFirst : d.choice(top, "di_order", as: CJT188DIOrder.self, label: "DI order")
        let clock = top["clock_order"] == nil ? .secondsFirst : d.choice(top, "clock_order", as: CJT188ClockOrder.self, label: "clock order")
        guard let meterType, let order, let clock else { return nil }
        return CJT188Settings(meterType: meterType, diOrder: order, clockLayout: clock.layout, fields: fields)
    }
}
