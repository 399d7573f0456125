import MeterProtocols

/// Loads device profiles (`Hardware/profiles/NAME.yaml`, format in `Hardware/profiles/README.md`)
/// and validates them, reporting every problem at its file, line and column.
public enum ProfileLoader {
    static let topKeys = ["manufacturer", "model", "medium", "protocol", "generic", "serial",
                          "max_registers_per_read", "max_gap", "defaults", "points", "relay", "actions", "settings", "identification"] + cjt188TopKeys
    static let serialKeys = ["baud", "parity", "data_bits", "stop_bits"]
    static let defaultsKeys = ["table", "type", "word_order"]
    static let pointKeys = ["name", "table", "address", "type", "word_order", "unit", "scale", "offset", "billing"] + stateKeys

    /// Loads one profile; its name is the file stem (`eastron-sdm120`).
    public static func load(path: String) throws(ConfigErrors) -> DeviceProfile {
        guard let text = readTextFile(path) else {
            throw ConfigErrors([ConfigError(SourceLocation(file: path, line: 1, column: 1), "cannot read file")])
        }
        return try load(text: text, file: path, name: FilePaths.stem(of: path))
    }

    /// Parses and validates profile text; `file` only names it in locations.
    public static func load(text: String, file: String, name: String) throws(ConfigErrors) -> DeviceProfile {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text, file: file) } catch { throw ConfigErrors([error]) }
        var diagnostics = ConfigDiagnostics()
        let profile = decode(root, name: name, source: file, into: &diagnostics)
        if let profile, diagnostics.errors.isEmpty { return profile }
        throw ConfigErrors(diagnostics.sorted)
    }

    /// Every `*.yaml`/`*.yml` profile in `dir`, keyed by file stem. Errors of all files are
    /// collected and thrown together.
    public static func loadDirectory(_ dir: String) throws(ConfigErrors) -> [String: DeviceProfile] {
        let result = loadDirectoryLeniently(dir)
        if let missing = result.unreadableDirectory { throw ConfigErrors([missing]) }
        let errors = result.errors.keys.sorted().flatMap { result.errors[$0]! }
        if !errors.isEmpty { throw ConfigErrors(errors) }
        return result.profiles
    }

    /// The profile file names `dir` holds (stems), sorted; nil when `dir` cannot be read.
    public static func profileNames(in dir: String) -> [String]? {
        FilePaths.entries(of: dir).map { $0.filter(isProfileFile).map(FilePaths.stem(of:)) }
    }

    static func isProfileFile(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    /// Loads what it can; a site config only fails on the profiles its devices use.
    static func loadDirectoryLeniently(_ dir: String)
        -> (profiles: [String: DeviceProfile], errors: [String: [ConfigError]], unreadableDirectory: ConfigError?)
    {
        guard let entries = FilePaths.entries(of: dir) else {
            return ([:], [:], ConfigError(SourceLocation(file: dir, line: 1, column: 1), "cannot open profiles directory"))
        }
        var profiles: [String: DeviceProfile] = [:]
        var errors: [String: [ConfigError]] = [:]
        for entry in entries where isProfileFile(entry) {
            let path = FilePaths.join(dir, entry)
            let name = FilePaths.stem(of: entry)
            do throws(ConfigErrors) {
                profiles[name] = try load(path: path)
            } catch {
                errors[name] = error.errors
            }
        }
        return (profiles, errors, nil)
    }

    // MARK: - Decoding

    static func decode(_ root: YAMLNode, name: String, source: String, into d: inout ConfigDiagnostics) -> DeviceProfile? {
        guard let top = d.mapping(root, what: "profile", allowed: topKeys,
                                  required: ["manufacturer", "model", "medium", "points"]) else { return nil }
        let manufacturer = d.string(top, "manufacturer")
        let model = d.string(top, "model")
        let medium = d.choice(top, "medium", as: Medium.self, label: "medium")
        let wire = top["protocol"] == nil ? WireProtocol.modbus : d.choice(top, "protocol", as: WireProtocol.self, label: "protocol")
        let generic = top["generic"] == nil ? false : d.bool(top, "generic")
        let serial = top["serial"].map { decodeSerial($0, into: &d) } ?? SerialSettings()
        let maxRegisters = top["max_registers_per_read"] == nil
            ? ModbusLimits.maxReadRegisters
            : d.integer(top, "max_registers_per_read", range: 1...ModbusLimits.maxReadRegisters)
        let maxGap = top["max_gap"] == nil ? 10 : d.integer(top, "max_gap", range: 0...ModbusLimits.maxReadRegisters)
        let defaults = top["defaults"].map { decodeDefaults($0, into: &d) } ?? PointDefaults()

        var points: [PointDefinition] = []
        var dataPoints: [DataPointDefinition] = []
        var seen: [PointName: SourceLocation] = [:]
        var cjt188Fields: [PointName: CJT188Field] = [:]
        // The watched points with their nodes (for the locations of bit-name errors).
        var states: [PointName: (watch: StateWatch, item: YAMLNode)] = [:]
        let items = d.list(top, "points")
        if let items, items.isEmpty, let node = top["points"] {
            d.report(node, "'points' is empty: a profile needs at least one point")
        }
        for item in items ?? [] {
            // DL/T 645 and CJ/T 188 meters name their values by data identifier, not register.
            if let wire, wire.usesMeterAddress {
                let decoded = wire == .cjt188 ? decodeCJT188Point(item, fields: &cjt188Fields, into: &d)
                    : decodeDataPoint(item, protocol: wire, into: &d)
                guard let (point, nameNode) = decoded else { continue }
                if let first = seen[point.name] {
                    d.report(nameNode, "duplicate point name '\(point.name)' (first at line \(first.line))")
                    continue
                }
                seen[point.name] = nameNode.location
                dataPoints.append(point)
                let width = statusWordBits(of: point, field: wire == .cjt188 ? cjt188Fields[point.name] : nil)
                if let watch = decodeStateWatch(item, point: point.name, bitWidth: width, into: &d) {
                    states[point.name] = (watch, item)
                }
                continue
            }
            guard let decoded = decodePoint(item, defaults: defaults,
                                                      maxRegisters: maxRegisters ?? ModbusLimits.maxReadRegisters, into: &d)
            else { continue }
            let (point, nameNode) = decoded
            if let first = seen[point.name] {
                d.report(nameNode, "duplicate point name '\(point.name)' (first at line \(first.line))")
                continue
            }
            seen[point.name] = nameNode.location
            points.append(point)
            if let watch = decodeStateWatch(item, point: point.name, bitWidth: statusWordBits(of: point), into: &d) {
                states[point.name] = (watch, item)
            }
        }
        checkStateNames(states, points: seen, into: &d)

        let relay = top["relay"].flatMap { decodeRelay($0, protocol: wire, into: &d) }
        let actions = top["actions"].map { decodeActions($0, protocol: wire, points: points, relay: relay, into: &d) } ?? [:]
        let cjt188 = decodeCJT188Settings(top, protocol: wire, fields: cjt188Fields, into: &d)
        let settings = top["settings"].flatMap { decodeSettings($0, protocol: wire, into: &d) }
        let identification = top["identification"].flatMap { decodeIdentification($0, protocol: wire, into: &d) }

        guard let manufacturer, let model, let medium, let wire, let generic, let serial,
              let maxRegisters, let maxGap else { return nil }
        var profile = DeviceProfile(name: name, manufacturer: manufacturer, model: model, medium: medium, protocolName: wire,
                                    generic: generic, serialDefaults: serial, maxRegistersPerRead: maxRegisters,
                                    maxGap: maxGap, points: points, source: source)
        profile.dataPoints = dataPoints
        profile.relay = relay
        profile.actions = actions
        profile.cjt188 = cjt188
        profile.settings = settings
        profile.identification = identification
        profile.states = states.mapValues(\.watch)
        return profile
    }

    /// Line settings, shared with the site config's serial buses.
    static func decodeSerial(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> SerialSettings? {
        guard let m = d.mapping(node, what: "serial settings", allowed: serialKeys) else { return nil }
        return decodeSerialFields(m, into: &d)
    }

    static let standardBauds = [300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400]

    static func decodeSerialFields(_ m: CheckedMapping, into d: inout ConfigDiagnostics) -> SerialSettings? {
        var settings = SerialSettings()
        var ok = true
        if let node = m["baud"] {
            if let baud = d.integer(node, "baud", range: 1...4_000_000) {
                if standardBauds.contains(baud) {
                    settings.baud = baud
                } else {
                    d.report(node, "unsupported baud rate \(baud) (expected one of: \(standardBauds.map(String.init).joined(separator: ", ")))")
                    ok = false
                }
            } else { ok = false }
        }
        if let node = m["parity"] {
            if let parity = decodeParity(node, into: &d) { settings.parity = parity } else { ok = false }
        }
        if m["data_bits"] != nil {
            if let bits = d.integer(m, "data_bits", range: 5...8) { settings.dataBits = bits } else { ok = false }
        }
        if m["stop_bits"] != nil {
            if let bits = d.integer(m, "stop_bits", range: 1...2) { settings.stopBits = bits } else { ok = false }
        }
        return ok ? settings : nil
    }

    /// `none`/`even`/`odd`, or the letters `N`/`E`/`O` from meter labels.
    static func decodeParity(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> Parity? {
        d.choice(node, "parity", as: Parity.self, label: "parity") { text in
            switch text.lowercased() {
            case "n": "none"
            case "e": "even"
            case "o": "odd"
            default: text.lowercased()
            }
        }
    }

    struct PointDefaults {
        var table: RegisterTable?
        var type: ValueType?
        var wordOrder: WordOrder = .ABCD
    }

    static func decodeDefaults(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> PointDefaults {
        var defaults = PointDefaults()
        guard let m = d.mapping(node, what: "defaults", allowed: defaultsKeys) else { return defaults }
        defaults.table = d.choice(m, "table", as: RegisterTable.self, label: "table")
        defaults.type = d.choice(m, "type", as: ValueType.self, label: "type")
        if let order = d.choice(m, "word_order", as: WordOrder.self, label: "word order", normalize: { $0.uppercased() }) {
            defaults.wordOrder = order
        }
        return defaults
    }

    /// One point, checked on its own; the name node comes back for the duplicate check.
    static func decodePoint(_ node: YAMLNode, defaults: PointDefaults, maxRegisters: Int,
                            into d: inout ConfigDiagnostics) -> (PointDefinition, YAMLNode)? {
        let label = node["name"]?.scalar.map { "point '\($0)'" } ?? "point"
        guard let m = d.mapping(node, what: label, allowed: pointKeys, required: ["name", "address"]) else { return nil }
        let errorsBefore = d.errors.count

        let name = d.string(m, "name")
        if let name, !isPointName(name) {
            d.report(m["name"]!, "invalid point name '\(name)' (expected dotted lower-case words, e.g. energy.import.total)")
        }
        let table = m["table"] == nil ? defaults.table : d.choice(m, "table", as: RegisterTable.self, label: "table")
        if m["table"] == nil, defaults.table == nil {
            d.report(node, "missing key 'table' in \(label) (and no default in 'defaults')")
        }
        let address = d.integer(m, "address", range: 0...(ModbusLimits.addressSpace - 1), label: "address")

        // A bit table only holds booleans, so there the type defaults to bool.
        var type: ValueType?
        if m["type"] != nil {
            type = d.choice(m, "type", as: ValueType.self, label: "type")
        } else if let table, table.isBitTable {
            type = .bool
        } else if let fallback = defaults.type {
            type = fallback
        } else {
            d.report(node, "missing key 'type' in \(label) (and no default in 'defaults')")
        }
        let order = m["word_order"] == nil
            ? defaults.wordOrder
            : d.choice(m, "word_order", as: WordOrder.self, label: "word order", normalize: { $0.uppercased() })
        let unit = m["unit"] == nil ? "" : d.string(m, "unit")
        let scale = m["scale"] == nil ? ExactDecimal.one : d.decimal(m, "scale")
        if let scale, scale.significand == 0 {
            d.report(m["scale"]!, "scale must not be 0")
        }
        let offset = m["offset"] == nil ? ExactDecimal.zero : d.decimal(m, "offset")
        let billing = m["billing"] == nil ? false : d.bool(m, "billing")

        if let table, let type {
            let typeNode = m["type"] ?? m["table"] ?? node
            if table.isBitTable, type != .bool {
                d.report(typeNode, "type \(type.rawValue) not allowed in table \(table.rawValue) (coils and discrete inputs hold only bool)")
            } else if !table.isBitTable, type == .bool {
                d.report(typeNode, "type bool needs table coil or discrete, not \(table.rawValue)")
            } else if !table.isBitTable, type.registerCount > maxRegisters {
                d.report(typeNode, "type \(type.rawValue) spans \(type.registerCount) registers, more than max_registers_per_read \(maxRegisters)")
            }
            if let address, address + type.registerCount > ModbusLimits.addressSpace {
                d.report(m["address"]!, "\(type.rawValue) at address \(address) runs past register 65535")
            }
        }

        guard d.errors.count == errorsBefore, let name, let table, let address, let type, let order,
              let unit, let scale, let offset, let billing else { return nil }
        let point = PointDefinition(name: PointName(name), table: table, address: UInt16(address), type: type,
                                    wordOrder: order, scale: scale, offset: offset, unit: unit, billing: billing)
        return (point, m["name"]!)
    }

    /// `energy.import.total`, `voltage.l1`: lower-case words of `a-z0-9_` joined by dots.
    static func isPointName(_ text: String) -> Bool {
        let words = text.split(separator: ".", omittingEmptySubsequences: false)
        return words.allSatisfy { word in
            !word.isEmpty && word.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_")
            }
        }
    }
}
