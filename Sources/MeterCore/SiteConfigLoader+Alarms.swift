import MeterProtocols

/// `alarms:` under a device: threshold alarms on the device's points (see `AlarmRule`).
///
/// ```yaml
/// alarms:
///   - {name: gas.pressure.low,  point: pressure,  below: 1.5, clear_above: 1.7}
///   - {name: gas.pressure.high, point: pressure,  above: 3.0, clear_below: 2.8}
///   - {name: water.night_flow,  point: flow.rate, above: 0, for: 2h, between: "00:00-05:00"}
/// ```
extension SiteConfigLoader {
    static let alarmKeys = ["name", "point", "above", "below", "clear_above", "clear_below", "for", "between"]
    /// Longest `for:`: a week.
    static let maxAlarmHoldMs = 7 * 86_400_000

    /// The device's alarms; nil (after reporting) when any is wrong. `profile` is nil when the
    /// device's profile could not be resolved: then point names are not checked.
    static func decodeAlarms(_ node: YAMLNode, profile: DeviceProfile?, device: String,
                             into d: inout ConfigDiagnostics) -> [AlarmRule]? {
        if node.isNull { return [] }
        guard case let .sequence(items) = node.kind else {
            d.report(node, "expected a list for 'alarms', got \(describe(node))")
            return nil
        }
        var rules: [AlarmRule] = []
        var names: [String: SourceLocation] = [:]
        var ok = true
        for item in items {
            guard let (rule, nameNode) = decodeAlarm(item, profile: profile, device: device, into: &d) else {
                ok = false
                continue
            }
            if let first = names[rule.name] {
                d.report(nameNode, "duplicate alarm name '\(rule.name)' in device '\(device)' (first at line \(first.line))")
                ok = false
                continue
            }
            names[rule.name] = nameNode.location
            rules.append(rule)
        }
        return ok ? rules : nil
    }

    static func decodeAlarm(_ node: YAMLNode, profile: DeviceProfile?, device: String,
                            into d: inout ConfigDiagnostics) -> (AlarmRule, YAMLNode)? {
        let label = node["name"]?.scalar.map { "alarm '\($0)'" } ?? "alarm"
        guard let m = d.mapping(node, what: label, allowed: alarmKeys, required: ["name", "point"]) else { return nil }
        let before = d.errors.count

        let name = d.string(m, "name")
        if let name, !isPlainIdentifier(name) {
            d.report(m["name"]!, "invalid alarm name '\(name)' (use letters, digits, '.', '_', '-')")
        }
        let point = d.string(m, "point")
        if let point, let profile, !profile.pointNames.contains(PointName(point)) {
            let known = profile.pointNames.map(\.rawValue)
            d.report(m["point"]!, "unknown point '\(point)' for profile '\(profile.name)' of device '\(device)' (points: \(known.joined(separator: ", ")))")
        }

        // Exactly one direction, and the clear threshold that belongs to it on the right side.
        let direction: AlarmRule.Direction?
        switch (m["above"], m["below"]) {
        case (.some, .some):
            d.report(m["below"]!, "\(label) has both 'above' and 'below' (one alarm per direction: write two alarms)")
            direction = nil
        case (.some, nil): direction = .above
        case (nil, .some): direction = .below
        case (nil, nil):
            d.report(node, "missing key 'above' or 'below' in \(label)")
            direction = nil
        }
        let threshold = direction.flatMap { d.decimal(m, $0.rawValue) }
        var clear: ExactDecimal?
        if let direction {
            let (rightKey, wrongKey) = direction == .above ? ("clear_below", "clear_above") : ("clear_above", "clear_below")
            if let wrong = m[wrongKey] {
                d.report(wrong, "'\(wrongKey)' does not go with '\(direction.rawValue)' in \(label) (an alarm raised \(direction.rawValue) a threshold clears with '\(rightKey)')")
            }
            if m[rightKey] != nil, let value = d.decimal(m, rightKey), let threshold {
                clear = value
                let wrongSide = direction == .above ? value.compare(threshold) > 0 : value.compare(threshold) < 0
                if wrongSide {
                    let relation = direction == .above ? "at or below" : "at or above"
                    d.report(m[rightKey]!, "\(rightKey) \(value) is on the wrong side of \(direction.rawValue) \(threshold) in \(label) (it must be \(relation) the threshold, or the alarm would clear while still raised)")
                }
            }
        }

        var holdMs = 0
        if let holdNode = m["for"] {
            if let text = holdNode.scalar, !holdNode.isNull, let ms = parseInterval(text), (0...maxAlarmHoldMs).contains(ms) {
                holdMs = ms
            } else {
                d.report(holdNode, "bad duration \(describe(holdNode)) for 'for' in \(label) (expected e.g. 90s, 15m, 2h or a number of seconds, at most 7 days)")
            }
        }
        var window: DailyWindow?
        if let windowNode = m["between"] {
            if let text = windowNode.scalar, !windowNode.isNull, let parsed = DailyWindow(text) {
                window = parsed
            } else {
                d.report(windowNode, "bad time window \(describe(windowNode)) for 'between' in \(label) (expected HH:MM-HH:MM in the gateway's local time, e.g. \"00:00-05:00\" or \"22:00-06:00\"; start and end must differ)")
            }
        }

        guard d.errors.count == before, let name, let point, let direction, let threshold else { return nil }
        let rule = AlarmRule(name: name, point: PointName(point), direction: direction, threshold: threshold,
                             clearThreshold: clear, holdMs: holdMs, window: window)
        return (rule, m["name"]!)
    }
}
