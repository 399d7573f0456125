import MeterProtocols

/// The profile's `settings:` section: what `meteragent commission` may write (format in
/// Hardware/profiles/README.md, "Settings").
extension ProfileLoader {
    static let modbusSettingsKeys = ModbusSetting.allCases.map(\.rawValue) + ["unlock", "apply", "takes_effect"]
    static let dlt645SettingsKeys = ["address", "baud"]
    static let settingRegisterKeys = ["register", "type", "word_order", "function", "codes", "range"]

    static func decodeSettings(_ node: YAMLNode, protocol wire: WireProtocol?, into d: inout ConfigDiagnostics) -> CommissionSettings? {
        switch wire {
        case .modbus: return decodeModbusSettings(node, into: &d)
        case .dlt645: return decodeDLT645Settings(node, into: &d)
        case .dlt645_1997, .cjt188:
            d.report(node, "'settings' is for Modbus and DL/T 645-2007 profiles; \(wire!.rawValue) meters are not commissioned here")
            return nil
        case nil: return nil
        }
    }

    private static func decodeModbusSettings(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> CommissionSettings? {
        guard let m = d.mapping(node, what: "settings", allowed: modbusSettingsKeys) else { return nil }
        let before = d.errors.count
        var settings = CommissionSettings()
        var used: [UInt16: (String, SourceLocation)] = [:]
        for setting in ModbusSetting.allCases {
            guard let node = m[setting.rawValue],
                  let register = decodeSettingRegister(node, name: setting.rawValue, setting: setting, used: &used, into: &d) else { continue }
            settings.registers[setting] = register
        }
        for step in ["unlock", "apply"] {
            guard let node = m[step] else { continue }
            let write = decodeSettingWrite(node, name: step, used: &used, into: &d)
            if step == "unlock" { settings.unlock = write } else { settings.apply = write }
        }
        if let effect = d.choice(m, "takes_effect", as: SettingsTakeEffect.self, label: "takes_effect") { settings.takesEffect = effect }
        if settings.registers.isEmpty, d.errors.count == before {
            d.report(node, "'settings' declares no writable setting (expected one of: \(ModbusSetting.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return d.errors.count == before ? settings : nil
    }

    /// `{register: 0x001C, type: f32, codes: {9600: 2, …}}` or `{register: 0x0014, type: u16, range: [1, 247]}`.
    private static func decodeSettingRegister(_ node: YAMLNode, name: String, setting: ModbusSetting?, extraKeys: [String] = [],
                                              used: inout [UInt16: (String, SourceLocation)],
                                              into d: inout ConfigDiagnostics) -> SettingRegister? {
        let what = "setting '\(name)'"
        guard let m = d.mapping(node, what: what, allowed: settingRegisterKeys + extraKeys, required: ["register"]) else { return nil }
        let before = d.errors.count
        let address = d.integer(m, "register", range: 0...(ModbusLimits.addressSpace - 1), label: "register")
        let type = m["type"] == nil ? ValueType.u16 : d.choice(m, "type", as: ValueType.self, label: "type")
        let order = m["word_order"] == nil ? WordOrder.ABCD
            : d.choice(m, "word_order", as: WordOrder.self, label: "word order", normalize: { $0.uppercased() })
        var function: UInt8 = 0x10
        if let node = m["function"], let code = d.integer(node, "function", range: 0...255) {
            if code == 0x10 || code == 0x06 { function = UInt8(code) } else {
                d.report(node, "function \(code) cannot write a setting (expected 0x10 write multiple or 0x06 write single)")
            }
        }
        if let type {
            if type == .bool { d.report(m["type"]!, "a setting lives in holding registers; type bool is for coils") }
            if function == 0x06, type.registerCount != 1, let node = m["function"] {
                d.report(node, "function 0x06 writes one register; type \(type.rawValue) spans \(type.registerCount)")
            }
            if let address, address + type.registerCount > ModbusLimits.addressSpace {
                d.report(m["register"]!, "\(type.rawValue) at register \(address) runs past register 65535")
            }
        }
        if let address, let type, d.errors.count == before {
            for offset in 0..<type.registerCount {
                let r = UInt16(address + offset)
                if let (other, location) = used[r] {
                    d.report(m["register"]!, "register 0x\(Hex.word(r)) already holds '\(other)' (line \(location.line))")
                    break
                }
            }
            for offset in 0..<type.registerCount { used[UInt16(address + offset)] = (name, m["register"]!.location) }
        }
        var register = SettingRegister(address: UInt16(address ?? 0), type: type ?? .u16, wordOrder: order ?? .ABCD, function: function)
        if let node = m["codes"] { register.codes = decodeCodes(node, setting: setting, register: register, into: &d) }
        if let node = m["range"] {
            if m["codes"] != nil { d.report(node, "give either 'codes' or 'range' for \(what), not both") }
            register.range = decodeRange(node, into: &d)
        } else if setting == .unitID, m["codes"] == nil {
            register.range = 1...247
        }
        if setting == .baud || setting == .parity, m["codes"] == nil {
            d.report(m.node, "\(what) needs 'codes': the number the meter stores for each \(setting!.rawValue) (its manual's table)")
        }
        for (key, value) in register.codes where (try? register.point(name).encode(value)) == nil {
            d.report(m["codes"]!, "code \(value) for '\(key)' does not fit type \(register.type.rawValue)")
        }
        return d.errors.count == before && address != nil ? register : nil
    }

    /// The unlock and apply steps: a register and the fixed value written to it.
    private static func decodeSettingWrite(_ node: YAMLNode, name: String, used: inout [UInt16: (String, SourceLocation)],
                                           into d: inout ConfigDiagnostics) -> SettingWrite? {
        guard case .mapping = node.kind, let valueNode = node["value"] else {
            d.report(node, "'\(name)' is {register: R, value: V} (and optionally type, word_order, function)")
            return nil
        }
        guard let register = decodeSettingRegister(node, name: name, setting: nil, extraKeys: ["value"], used: &used, into: &d) else { return nil }
        guard let text = valueNode.scalar, let value = ExactDecimal(text)?.doubleValue else {
            d.report(valueNode, "expected a number for 'value', got \(describe(valueNode))")
            return nil
        }
        guard (try? register.point(name).encode(value)) != nil else {
            d.report(valueNode, "value \(text) does not fit type \(register.type.rawValue)")
            return nil
        }
        return SettingWrite(register: register, value: value)
    }

    /// `{9600: 2, 19200: 3}` for a baud rate, `{none: 0, even: 1}` for parity, any words otherwise.
    private static func decodeCodes(_ node: YAMLNode, setting: ModbusSetting?, register: SettingRegister,
                                    into d: inout ConfigDiagnostics) -> [String: Double] {
        guard case let .mapping(entries) = node.kind, !entries.isEmpty else {
            d.report(node, "expected a mapping of value: code for 'codes', got \(describe(node))")
            return [:]
        }
        var codes: [String: Double] = [:]
        for entry in entries {
            guard let key = entry.key.scalar?.lowercased(), !entry.key.isNull else {
                d.report(entry.key, "expected a plain key in 'codes', got \(describe(entry.key))")
                continue
            }
            if setting == .baud, !(Int(key).map(standardBauds.contains) ?? false) {
                d.report(entry.key, "unsupported baud rate '\(key)' (expected one of: \(standardBauds.map(String.init).joined(separator: ", ")))")
                continue
            }
            if setting == .parity, Parity(rawValue: key) == nil {
                d.report(entry.key, "unknown parity '\(key)' (expected one of: none, even, odd)")
                continue
            }
            guard let text = entry.value.scalar, let value = ExactDecimal(text)?.doubleValue else {
                d.report(entry.value, "expected a number for the code of '\(key)', got \(describe(entry.value))")
                continue
            }
            if codes[key] != nil {
                d.report(entry.key, "duplicate '\(key)' in 'codes'")
            } else if let same = codes.first(where: { $0.value == value }) {
                d.report(entry.value, "code \(text) is already '\(same.key)': a read-back could not tell them apart")
            } else {
                codes[key] = value
            }
        }
        return codes
    }

    private static func decodeRange(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> ClosedRange<Double>? {
        guard case let .sequence(items) = node.kind, items.count == 2,
              let low = items[0].scalar.flatMap(ExactDecimal.init)?.doubleValue,
              let high = items[1].scalar.flatMap(ExactDecimal.init)?.doubleValue else {
            d.report(node, "expected [min, max] for 'range', got \(describe(node))")
            return nil
        }
        guard low <= high else {
            d.report(node, "range [\(items[0].scalar!), \(items[1].scalar!)]: min is above max")
            return nil
        }
        return low...high
    }

    /// `address: true` (0x15) and `baud: [1200, 2400, …]` (0x17).
    private static func decodeDLT645Settings(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> CommissionSettings? {
        guard let m = d.mapping(node, what: "settings", allowed: dlt645SettingsKeys) else { return nil }
        let before = d.errors.count
        var settings = CommissionSettings()
        if let writable = d.bool(m, "address") { settings.writableAddress = writable }
        for item in d.list(m, "baud") ?? [] {
            guard let baud = d.integer(item, "baud", range: 1...4_000_000) else { continue }
            if !DLT645BaudFeature.rates.contains(baud) {
                d.report(item, "\(baud) baud cannot be set with 0x17 (DL/T 645-2007 rates: \(DLT645BaudFeature.rates.map(String.init).joined(separator: ", ")))")
            } else if settings.bauds.contains(baud) {
                d.report(item, "duplicate rate \(baud)")
            } else {
                settings.bauds.append(baud)
            }
        }
        if let node = m["baud"], settings.bauds.isEmpty, d.errors.count == before {
            d.report(node, "'baud' lists no rate; leave it out if the meter cannot change its rate")
        }
        if !settings.writableAddress, settings.bauds.isEmpty, d.errors.count == before {
            d.report(node, "'settings' declares nothing writable (address: true, baud: [rates])")
        }
        return d.errors.count == before ? settings : nil
    }
}
