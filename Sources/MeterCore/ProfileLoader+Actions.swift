import MeterProtocols

/// The profile's `actions:` section: which head-end actions the model supports and how its
/// protocol carries each out (format in Hardware/profiles/README.md).
extension ProfileLoader {
    static let actionKeys = ["relay", "valve", "clock", "esam", "write", "value", "param", "min", "max", "unit"]

    static func decodeActions(_ node: YAMLNode, protocol wire: WireProtocol?, points: [PointDefinition],
                              relay: RelayControlSettings?, into d: inout ConfigDiagnostics) -> [CommandAction: ActionMapping] {
        guard case let .mapping(entries) = node.kind else {
            d.report(node, "expected a mapping of action names for 'actions', got \(describe(node))")
            return [:]
        }
        var actions: [CommandAction: ActionMapping] = [:]
        for entry in entries {
            guard let name = entry.key.scalar, let action = CommandAction(rawValue: name) else {
                let known = CommandAction.allCases.filter { !agentActions.contains($0) }.map(\.rawValue)
                d.report(entry.key, "unknown action \(describe(entry.key)) (expected one of: \(known.joined(separator: ", ")))")
                continue
            }
            if agentActions.contains(action) {
                d.report(entry.key, "'\(name)' is carried out by the agent, not the meter; it does not belong in a profile")
                continue
            }
            if actions[action] != nil {
                d.report(entry.key, "duplicate action '\(name)'")
                continue
            }
            guard let wire,
                  let m = d.mapping(entry.value, what: "action '\(name)'", allowed: actionKeys) else { continue }
            let mapping: ActionMapping?
            switch wire {
            case .dlt645: mapping = decodeDLT645Action(m, action: action, relay: relay, into: &d)
            case .cjt188: mapping = decodeCJT188Action(m, action: action, into: &d)
            case .modbus: mapping = decodeModbusAction(m, action: action, points: points, into: &d)
            case .dlt645_1997:
                d.report(m.node, "DL/T 645-1997 meters take no commands here")
                mapping = nil
            }
            if let mapping { actions[action] = mapping }
        }
        return actions
    }

    /// Actions the agent answers itself (a read, the local cost control), whatever the meter.
    static let agentActions: Set<CommandAction> = [.readNow, .creditAdd, .tariffSet, .authlistUpdate]

    private static func onlyKeys(_ m: CheckedMapping, _ keys: Set<String>, form: String, into d: inout ConfigDiagnostics) -> Bool {
        let extra = m.values.keys.filter { !keys.contains($0) }.sorted()
        guard let first = extra.first else { return true }
        d.report(m[first]!, "'\(first)' does not go with \(form) in \(m.what)")
        return false
    }

    private static func decodeDLT645Action(_ m: CheckedMapping, action: CommandAction, relay: RelayControlSettings?,
                                           into d: inout ConfigDiagnostics) -> ActionMapping? {
        if let node = m["relay"] {
            guard onlyKeys(m, ["relay"], form: "'relay'", into: &d), let text = d.string(node, "relay") else { return nil }
            guard let code = relayCodeNames.first(where: { $0.name == text })?.code,
                  let command = MeterCommand.relay(code: code) else {
                d.report(node, "unknown relay command '\(text)' (expected one of: \(relayCodeNames.map(\.name).joined(separator: ", ")))")
                return nil
            }
            let fits: Bool = switch action {
            case .relayOpen: command == .relayOpen
            case .relayClose, .relayArm: command == .relayClose || command == .relayArm
            default: false
            }
            guard fits else {
                d.report(node, "relay command '\(text)' cannot carry out '\(action.rawValue)'")
                return nil
            }
            guard let relay else {
                d.report(node, "'\(action.rawValue)' needs the profile's 'relay' settings (password level, accepted commands)")
                return nil
            }
            guard relay.acceptedCodes.contains(code) else {
                d.report(node, "relay command '\(text)' is not in the profile's relay.accepted list")
                return nil
            }
            return .relay(command)
        }
        if let node = m["clock"] {
            guard onlyKeys(m, ["clock"], form: "'clock'", into: &d) else { return nil }
            guard action == .timeSync, node.scalar == "broadcast" else {
                d.report(node, "'clock: broadcast' carries out 'time.sync' only")
                return nil
            }
            return .clockBroadcast
        }
        if let node = m["esam"] {
            guard onlyKeys(m, ["esam"], form: "'esam'", into: &d) else { return nil }
            guard action == .esamForward, node.scalar == "forward" else {
                d.report(node, "'esam: forward' carries out 'esam.forward' only")
                return nil
            }
            return .esamForward
        }
        d.report(m.node, "a DL/T 645 action is one of {relay: CODE}, {clock: broadcast}, {esam: forward}")
        return nil
    }

    private static func decodeCJT188Action(_ m: CheckedMapping, action: CommandAction, into d: inout ConfigDiagnostics) -> ActionMapping? {
        guard let node = m["valve"], onlyKeys(m, ["valve"], form: "'valve'", into: &d) else {
            d.report(m.node, "a CJ/T 188 action is {valve: open} or {valve: close}")
            return nil
        }
        switch (action, node.scalar) {
        case (.valveOpen, "open"): return .valve(open: true)
        case (.valveClose, "close"): return .valve(open: false)
        default:
            d.report(node, "'valve.open' takes {valve: open} and 'valve.close' {valve: close}; \(describe(node)) cannot carry out '\(action.rawValue)'")
            return nil
        }
    }

    private static func decodeModbusAction(_ m: CheckedMapping, action: CommandAction, points: [PointDefinition],
                                           into d: inout ConfigDiagnostics) -> ActionMapping? {
        guard let node = m["write"], let name = d.string(node, "write") else {
            d.report(m.node, "a Modbus action is {write: POINT, value: V} or {write: POINT, param: NAME, min: A, max: B}")
            return nil
        }
        guard let point = points.first(where: { $0.name.rawValue == name }) else {
            d.report(node, "no point '\(name)' in this profile to write")
            return nil
        }
        guard point.table == .coil || point.table == .holding else {
            d.report(node, "point '\(name)' is in the \(point.table.rawValue) table, which cannot be written (coil or holding only)")
            return nil
        }
        if m["value"] != nil {
            guard onlyKeys(m, ["write", "value"], form: "'value'", into: &d), let value = d.decimal(m, "value") else { return nil }
            return .write(point: point.name, value: value)
        }
        guard m["param"] != nil, m["min"] != nil, m["max"] != nil else {
            d.report(m.node, "'write' needs either 'value' or 'param' with 'min' and 'max' in \(m.what)")
            return nil
        }
        guard let param = d.string(m, "param"), let minimum = d.decimal(m, "min"), let maximum = d.decimal(m, "max") else { return nil }
        guard minimum.compare(maximum) <= 0 else {
            d.report(m["max"]!, "max \(maximum) is below min \(minimum)")
            return nil
        }
        let unit = m["unit"].flatMap { d.string($0, "unit") } ?? point.unit
        return .writeParameter(point: point.name, parameter: ActionParameter(name: param, minimum: minimum, maximum: maximum, unit: unit))
    }
}
