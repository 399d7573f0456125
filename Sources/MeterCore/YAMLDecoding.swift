import MeterProtocols

/// Collects every problem found in one file, so a technician fixes them all in one pass
/// instead of one per `config validate` run. Each error sits at the node that is wrong:
/// the key for an unknown key, the value for a bad value, the mapping for a missing key.
struct ConfigDiagnostics {
    var errors: [ConfigError] = []

    mutating func report(_ node: YAMLNode, _ message: String) {
        errors.append(ConfigError(node.location, message))
    }

    mutating func report(_ location: SourceLocation, _ message: String) {
        errors.append(ConfigError(location, message))
    }

    /// Errors in document order (cross-reference checks run after the first pass).
    var sorted: [ConfigError] {
        errors.enumerated().sorted { a, b in
            let la = a.element.location, lb = b.element.location
            if la.file != lb.file { return a.offset < b.offset }
            if la.line != lb.line { return la.line < lb.line }
            if la.column != lb.column { return la.column < lb.column }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// A YAML mapping whose keys have been checked against what is allowed in that place.
struct CheckedMapping {
    let node: YAMLNode
    /// How messages name this mapping: `point 'voltage.l1'`, `bus 'rs485-1'`, `profile`.
    let what: String
    let values: [String: YAMLNode]

    subscript(key: String) -> YAMLNode? { values[key] }
}

/// Shown in messages for a node that is not what was expected.
func describe(_ node: YAMLNode) -> String {
    switch node.kind {
    case let .scalar(text, _): node.isNull ? "nothing" : "'\(text)'"
    case .sequence: "a list"
    case .mapping: "a mapping"
    }
}

extension ConfigDiagnostics {
    /// Checks that `node` is a mapping with only `allowed` keys (each at most once) and all
    /// `required` keys; returns nil (after reporting) when it is not a mapping at all.
    mutating func mapping(_ node: YAMLNode, what: String, allowed: [String], required: [String] = []) -> CheckedMapping? {
        guard case let .mapping(entries) = node.kind else {
            report(node, "expected a mapping for \(what), got \(describe(node))")
            return nil
        }
        var values: [String: YAMLNode] = [:]
        for entry in entries {
            guard let key = entry.key.scalar, !entry.key.isNull else {
                report(entry.key, "expected a plain key in \(what), got \(describe(entry.key))")
                continue
            }
            if !allowed.contains(key) {
                report(entry.key, "unknown key '\(key)' in \(what) (expected one of: \(allowed.joined(separator: ", ")))")
            } else if let first = values[key] {
                report(entry.key, "duplicate key '\(key)' in \(what) (first at line \(first.location.line))")
            } else {
                values[key] = entry.value
            }
        }
        for key in required where values[key] == nil {
            report(node, "missing key '\(key)' in \(what)")
        }
        return CheckedMapping(node: node, what: what, values: values)
    }

    /// The items of a list value; reports anything else.
    mutating func list(_ m: CheckedMapping, _ key: String) -> [YAMLNode]? {
        guard let node = m[key] else { return nil }
        if node.isNull { return [] }
        guard case let .sequence(items) = node.kind else {
            report(node, "expected a list for '\(key)', got \(describe(node))")
            return nil
        }
        return items
    }

    /// A non-empty scalar, quoted or not.
    mutating func string(_ m: CheckedMapping, _ key: String) -> String? {
        guard let node = m[key] else { return nil }
        return string(node, key)
    }

    mutating func string(_ node: YAMLNode, _ key: String) -> String? {
        guard let text = node.scalar, !node.isNull, !text.isEmpty else {
            report(node, "expected a string for '\(key)', got \(describe(node))")
            return nil
        }
        return text
    }

    /// A decimal (`72`) or hexadecimal (`0x0048`) integer within `range`.
    mutating func integer(_ m: CheckedMapping, _ key: String, range: ClosedRange<Int>, label: String? = nil) -> Int? {
        guard let node = m[key] else { return nil }
        return integer(node, key, range: range, label: label)
    }

    mutating func integer(_ node: YAMLNode, _ key: String, range: ClosedRange<Int>, label: String? = nil) -> Int? {
        guard let text = node.scalar, !node.isNull, let value = parseInteger(text) else {
            report(node, "expected an integer for '\(key)', got \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            report(node, "\(label ?? key) \(value) out of range \(range.lowerBound)–\(range.upperBound)")
            return nil
        }
        return value
    }

    /// `true`/`false` (YAML 1.1 `yes`/`no`/`on`/`off` too, as older configs use them).
    mutating func bool(_ m: CheckedMapping, _ key: String) -> Bool? {
        guard let node = m[key] else { return nil }
        return bool(node, key)
    }

    mutating func bool(_ node: YAMLNode, _ key: String) -> Bool? {
        switch node.scalar?.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            report(node, "expected true or false for '\(key)', got \(describe(node))")
            return nil
        }
    }

    /// An exact decimal (`0.01`, `-40`, `1e-3`), never rounded through a binary float.
    mutating func decimal(_ m: CheckedMapping, _ key: String) -> ExactDecimal? {
        guard let node = m[key] else { return nil }
        guard let text = node.scalar, !node.isNull, let value = ExactDecimal(text) else {
            report(node, "expected a decimal number for '\(key)', got \(describe(node))")
            return nil
        }
        return value
    }

    /// One of an enum's raw values; the message lists them all. `normalize` lets a field
    /// accept spellings such as `abcd` for `ABCD`.
    mutating func choice<T: RawRepresentable & CaseIterable>(
        _ m: CheckedMapping, _ key: String, as type: T.Type, label: String,
        normalize: (String) -> String = { $0 }
    ) -> T? where T.RawValue == String {
        guard let node = m[key] else { return nil }
        return choice(node, key, as: type, label: label, normalize: normalize)
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(
        _ node: YAMLNode, _ key: String, as type: T.Type, label: String,
        normalize: (String) -> String = { $0 }
    ) -> T? where T.RawValue == String {
        guard let text = node.scalar, !node.isNull else {
            report(node, "expected a string for '\(key)', got \(describe(node))")
            return nil
        }
        if let value = T(rawValue: normalize(text)) { return value }
        let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
        report(node, "unknown \(label) '\(text)' (expected one of: \(allowed))")
        return nil
    }
}

/// `72`, `-3`, `+5`, `0x48`, `0X0048`; nil for anything else.
func parseInteger(_ text: String) -> Int? {
    var body = Substring(text)
    var negative = false
    if let sign = body.first, sign == "-" || sign == "+" {
        negative = sign == "-"
        body = body.dropFirst()
    }
    let value: Int?
    if body.hasPrefix("0x") || body.hasPrefix("0X") {
        let digits = body.dropFirst(2)
        value = digits.isEmpty ? nil : Int(digits, radix: 16)
    } else {
        value = body.allSatisfy({ $0.isASCII && $0.isNumber }) && !body.isEmpty ? Int(body) : nil
    }
    guard let value else { return nil }
    return negative ? -value : value
}

/// `[A-Za-z0-9._-]+`: safe in MQTT topics, file names and log lines.
func isPlainIdentifier(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }
}
