import MeterProtocols

/// Which points are states, whose changes become `state.changed` events: the profile says so per
/// point, so that a new meter model needs a YAML file, not code.
///
/// ```yaml
/// - {name: valve.state, field: valve_open, state: true}          # any change of the value
/// - name: relay.status_word                                       # named bits of a status word
///   di: "04000503"
///   format: NNNN
///   bits: {relay.open: 4, relay.command_off: 6, relay.keep_power: 12}
/// ```
extension ProfileLoader {
    /// Keys every kind of point accepts on top of its own.
    static let stateKeys = ["state", "bits"]

    /// How many bits a point's value has when it is a whole-number status word (Modbus u16/u32/u64
    /// without scale or offset, DL/T 645 `NNNN`, the CJ/T 188 `status` field); nil for anything else.
    static func statusWordBits(of point: PointDefinition) -> Int? {
        guard [.u16, .u32, .u64].contains(point.type), point.scale == .one, point.offset == .zero else { return nil }
        return point.type.registerCount * 16
    }

    static func statusWordBits(of point: DataPointDefinition, field: CJT188Field?) -> Int? {
        if let field { return field == .status ? 16 : nil }
        if case let .binary(bytes) = point.format.kind, point.scale == .one { return min(64, bytes * 8) }
        return nil
    }

    /// `state:` and `bits:` of one point already decoded as `point`; nil when it has neither or
    /// they are wrong (reported). `bitWidth` is nil for points that are not status words.
    static func decodeStateWatch(_ node: YAMLNode, point: PointName, bitWidth: Int?,
                                 into d: inout ConfigDiagnostics) -> StateWatch? {
        let label = "point '\(point)'"
        var watch = StateWatch(whole: false)
        if let stateNode = node["state"] {
            guard let whole = d.bool(stateNode, "state") else { return nil }
            watch.whole = whole
        }
        if let bitsNode = node["bits"] {
            guard let width = bitWidth else {
                d.report(bitsNode, "'bits' needs a status word (Modbus u16/u32/u64 without scale or offset, DL/T 645 format NNNN, CJ/T 188 field status); \(label) is not one")
                return nil
            }
            guard let bits = decodeBits(bitsNode, width: width, label: label, into: &d) else { return nil }
            watch.bits = bits
        }
        return watch.isEmpty ? nil : watch
    }

    /// `{relay.open: 4, relay.keep_power: 12}`: a name per bit, bits counted from 0 = least significant.
    private static func decodeBits(_ node: YAMLNode, width: Int, label: String, into d: inout ConfigDiagnostics) -> [StatusBit]? {
        guard case let .mapping(entries) = node.kind, !entries.isEmpty else {
            d.report(node, "expected a mapping of names to bit numbers for 'bits' in \(label), e.g. {relay.open: 4}, got \(describe(node))")
            return nil
        }
        var bits: [StatusBit] = []
        var ok = true
        for entry in entries {
            guard let name = entry.key.scalar, !entry.key.isNull, isPointName(name) else {
                d.report(entry.key, "invalid bit name \(describe(entry.key)) in \(label) (expected dotted lower-case words, e.g. relay.open)")
                ok = false
                continue
            }
            guard let bit = d.integer(entry.value, name, range: 0...(width - 1), label: "bit") else {
                ok = false
                continue
            }
            if let same = bits.first(where: { $0.name.rawValue == name }) {
                d.report(entry.key, "bit name '\(name)' used twice in \(label) (bits \(same.bit) and \(bit))")
                ok = false
            } else if let same = bits.first(where: { $0.bit == bit }) {
                d.report(entry.value, "bit \(bit) is already named '\(same.name)' in \(label)")
                ok = false
            } else {
                bits.append(StatusBit(name: PointName(name), bit: bit))
            }
        }
        return ok ? bits : nil
    }

    /// Bit names become the `point` of their events, so they must not be taken by a point or by
    /// another word's bit. `states` holds each point's node with its watch, for locations.
    static func checkStateNames(_ states: [PointName: (watch: StateWatch, item: YAMLNode)], points: [PointName: SourceLocation],
                                into d: inout ConfigDiagnostics) {
        var owners: [PointName: PointName] = [:]
        for (word, (watch, item)) in states.sorted(by: { $0.key < $1.key }) {
            for bit in watch.bits {
                var place = item
                if let bitsNode = item["bits"], case let .mapping(entries) = bitsNode.kind,
                   let key = entries.first(where: { $0.key.scalar == bit.name.rawValue })?.key {
                    place = key
                }
                if let point = points[bit.name] {
                    d.report(place, "bit name '\(bit.name)' of point '\(word)' is also a point (line \(point.line))")
                } else if let other = owners[bit.name] {
                    d.report(place, "bit name '\(bit.name)' of point '\(word)' is also a bit of point '\(other)'")
                } else {
                    owners[bit.name] = word
                }
            }
        }
    }
}
