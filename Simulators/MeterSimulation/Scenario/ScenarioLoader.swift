import MeterCore
import MeterProtocols

/// Reads a scenario file (format in Hardware/examples/demo-scenario.yaml) and the profiles it
/// names; every problem is reported at its file:line:column, all of them at once.
public enum ScenarioLoader {
    static let topKeys = ["profiles", "lines", "tcp", "control", "seed"]
    static let lineKeys = ["id", "link", "baud", "parity", "data_bits", "stop_bits", "devices", "protocol"]
    static let tcpKeys = ["id", "port", "count", "devices"]
    static let deviceKeys = ["unit", "profile", "model", "seed", "faults", "set", "address", "di_order", "password", "esam", "baud"]

    public static func load(path: String) throws(ConfigErrors) -> Scenario {
        guard let text = readTextFile(path) else {
            throw ConfigErrors([ConfigError(SourceLocation(file: path, line: 1, column: 1), "cannot read file")])
        }
        var scenario = try parse(text: text, file: path)
        try loadProfiles(into: &scenario)
        return scenario
    }

    /// Parses and checks the scenario itself; profiles are not loaded.
    public static func parse(text: String, file: String) throws(ConfigErrors) -> Scenario {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text, file: file) } catch { throw ConfigErrors([error]) }
        var d = Checker()
        var scenario = Scenario(file: file)
        guard let top = d.mapping(root, what: "scenario", allowed: topKeys) else { throw ConfigErrors(d.errors) }
        if let node = top["profiles"], let dir = d.string(node) {
            scenario.profilesDirectory = join(directory(of: file), dir)
        }
        if let node = top["control"], let path = d.string(node) { scenario.control = path }
        if let node = top["seed"], let seed = d.integer(node, in: 0...Int.max) { scenario.seed = UInt64(seed) }
        var lineIDs: [String: SourceLocation] = [:]
        for node in d.list(top["lines"]) {
            guard let m = d.mapping(node, what: "line", allowed: lineKeys, required: ["id"]) else { continue }
            guard let idNode = m["id"], let id = d.string(idNode) else { continue }
            if let first = lineIDs[id] {
                d.report(idNode, "duplicate line id '\(id)' (first at line \(first.line))")
            }
            lineIDs[id] = idNode.location
            var line = ScenarioLine(id: id, devices: [])
            if let node = m["link"] { line.link = d.string(node) }
            if let node = m["baud"], let baud = d.integer(node, in: 300...4_000_000) { line.settings.baud = baud }
            if let node = m["parity"], let text = d.string(node) {
                if let parity = Parity(rawValue: text) { line.settings.parity = parity } else {
                    d.report(node, "unknown parity '\(text)' (expected one of: none, even, odd)")
                }
            }
            if let node = m["data_bits"], let bits = d.integer(node, in: 5...8) { line.settings.dataBits = bits }
            if let node = m["stop_bits"], let bits = d.integer(node, in: 1...2) { line.settings.stopBits = bits }
            var family = LineFamily.registered[0]
            if let node = m["protocol"], let text = d.string(node) {
                if let named = LineFamily.named(LineProtocolName(rawValue: text)) { family = named } else {
                    d.report(node, "unknown protocol '\(text)' (expected one of: \(LineFamily.registered.map(\.name.rawValue).joined(separator: ", ")))")
                }
            }
            line.protocolName = family.name
            if family.name.isCardReader {
                // A reader is the line itself: cards come through the control channel.
                if let node = m["devices"] {
                    d.report(node, "a card reader line (protocol: \(family.name)) takes no devices; present cards with the control channel's 'card' command")
                }
            } else if m["devices"] == nil {
                d.report(node, "missing key 'devices' in line")
            } else {
                line.devices = devices(m["devices"], units: 1...247, family: family, sharedUnits: true, checker: &d)
            }
            scenario.lines.append(line)
        }
        for node in d.list(top["tcp"]) {
            guard let m = d.mapping(node, what: "tcp entry", allowed: tcpKeys, required: ["port", "devices"]) else { continue }
            let id = m["id"].flatMap { d.string($0) }
            let port = m["port"].flatMap { d.integer($0, in: 0...65535) } ?? 0
            let count = m["count"].flatMap { d.integer($0, in: 1...1000) } ?? 1
            if count > 1, port != 0, port + count - 1 > 65535, let node = m["count"] {
                d.report(node, "ports \(port)…\(port + count - 1) run past 65535")
            }
            let list = devices(m["devices"], units: 0...255, family: RTULineServer.family, checker: &d)
            for i in 0..<count {
                let entryID = count > 1 ? id.map { "\($0)-\(i)" } : id
                scenario.tcp.append(ScenarioTCPPort(id: entryID, port: port == 0 ? 0 : port + i, devices: list))
            }
        }
        if scenario.lines.isEmpty, scenario.tcp.isEmpty, d.errors.isEmpty {
            d.report(root, "scenario has no lines and no tcp entries: nothing to simulate")
        }
        if !d.errors.isEmpty { throw ConfigErrors(d.errors) }
        return scenario
    }

    /// Loads every profile the devices name from `scenario.profilesDirectory`; a missing one is
    /// reported where the device names it.
    public static func loadProfiles(into scenario: inout Scenario) throws(ConfigErrors) {
        var errors: [ConfigError] = []
        let all = scenario.lines.flatMap(\.devices) + scenario.tcp.flatMap(\.devices)
        for device in all where scenario.profiles[device.profileName] == nil {
            let path = join(scenario.profilesDirectory, device.profileName + ".yaml")
            guard readTextFile(path) != nil else {
                errors.append(ConfigError(device.location, "unknown profile '\(device.profileName)' (no file \(path))"))
                scenario.profiles[device.profileName] = DeviceProfile(name: "", manufacturer: "", model: "", medium: .electricity, points: [])
                continue
            }
            do {
                scenario.profiles[device.profileName] = try ProfileLoader.load(path: path)
            } catch {
                errors += error.errors
                scenario.profiles[device.profileName] = DeviceProfile(name: "", manufacturer: "", model: "", medium: .electricity, points: [])
            }
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }

    private static func devices(_ node: YAMLNode?, units: ClosedRange<Int>, family: LineFamily, sharedUnits: Bool = false,
                                checker d: inout Checker) -> [ScenarioDevice] {
        let wire = family.name
        var out: [ScenarioDevice] = []
        var seen: [Int: SourceLocation] = [:]
        var seenAddresses: [String: SourceLocation] = [:]
        for (index, item) in d.list(node).enumerated() {
            // Meters named by address (DL/T 645, CJ/T 188) get their place on the line as unit.
            let required = family.addressDigits != nil ? ["address", "profile"] : ["unit", "profile"]
            guard let m = d.mapping(item, what: "device", allowed: deviceKeys, required: required) else { continue }
            let unitValue: Int? = family.addressDigits != nil && m["unit"] == nil ? index + 1 : m["unit"].flatMap { d.integer($0, in: units) }
            guard let unit = unitValue, let profileNode = m["profile"], let profile = d.string(profileNode) else { continue }
            let unitNode = m["unit"] ?? item
            // Factory-fresh Modbus meters share unit 1 on a line until they are commissioned (and
            // collide when asked): a line may hold them; a TCP port's units stay distinct.
            if let first = seen[unit], !(sharedUnits && family.addressDigits == nil) {
                d.report(unitNode, "duplicate unit \(unit) (first at line \(first.line))")
            }
            seen[unit] = unitNode.location
            var device = ScenarioDevice(unit: UnitID(UInt8(unit)), profileName: profile, location: profileNode.location)
            if let node = m["address"], let text = d.string(node) {
                if let digits = family.addressDigits {
                    if text.count != digits || !text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                        d.report(node, "bad meter address '\(text)' (\(wire) addresses are \(digits) decimal digits)")
                    } else if let first = seenAddresses[text] {
                        d.report(node, "duplicate address \(text) (first at line \(first.line))")
                    } else {
                        seenAddresses[text] = node.location
                        device.address = text
                    }
                } else {
                    d.report(node, "'address' is for DL/T 645 and CJ/T 188 lines (protocol: dlt645 or cjt188), not \(wire)")
                }
            }
            if let node = m["di_order"], let text = d.string(node) {
                if wire != .cjt188 {
                    d.report(node, "'di_order' is for CJ/T 188 lines (protocol: cjt188)")
                } else if let order = CJT188DIOrder(rawValue: text) {
                    device.diOrder = order
                } else {
                    d.report(node, "unknown DI order '\(text)' (expected one of: high_first, low_first)")
                }
            }
            if let node = m["password"], let text = d.string(node) {
                if wire != .dlt645 {
                    d.report(node, "'password' is for DL/T 645-2007 lines (protocol: dlt645)")
                } else if text.count != 6 || !text.allSatisfy(\.isHexDigit) {
                    d.report(node, "bad password (expected 6 digits in quotes, e.g. \"000000\")")
                } else {
                    device.password = text
                }
            }
            if let node = m["esam"] {
                if wire != .dlt645 {
                    d.report(node, "'esam' is for DL/T 645-2007 lines (protocol: dlt645)")
                } else {
                    device.esam = esamSettings(node, checker: &d)
                }
            }
            if let node = m["model"], let text = d.string(node) {
                if let kind = DeviceModelKind(rawValue: text) { device.model = kind } else {
                    d.report(node, "unknown model '\(text)' (expected one of: electricity, water, gas)")
                }
            }
            if let node = m["seed"], let seed = d.integer(node, in: 0...Int.max) { device.seed = UInt64(seed) }
            if let node = m["baud"], let baud = d.integer(node, in: 300...4_000_000) { device.baud = baud }
            if let node = m["faults"], case let .mapping(entries) = node.kind {
                for entry in entries {
                    guard let name = entry.key.scalar, let value = entry.value.scalar else {
                        d.report(entry.key, "expected 'fault: value'")
                        continue
                    }
                    do { try device.faults.set(name, to: value) } catch {
                        d.report(DeviceFaults.names.contains(name) ? entry.value : entry.key, error.description)
                    }
                }
            } else if let node = m["faults"], !node.isNull {
                d.report(node, "expected a mapping for faults, got \(node.kindName)")
            }
            if let node = m["set"], case let .mapping(entries) = node.kind {
                for entry in entries {
                    guard let name = entry.key.scalar, let text = entry.value.scalar, let value = Double(text) else {
                        d.report(entry.value, "expected 'point: number'")
                        continue
                    }
                    device.pinned[name] = value
                }
            } else if let node = m["set"], !node.isNull {
                d.report(node, "expected a mapping for set, got \(node.kindName)")
            }
            out.append(device)
        }
        return out
    }

    /// `esam: {key: "<32 hex digits>", session_s: 300}`: the ESAM's key (16 bytes) and how long an
    /// identity authentication lasts.
    private static func esamSettings(_ node: YAMLNode, checker d: inout Checker) -> ESAMSettings? {
        guard let m = d.mapping(node, what: "esam", allowed: ["key", "session_s"], required: ["key"]),
              let keyNode = m["key"], let text = d.string(keyNode) else { return nil }
        guard let key = Hex.parse(text), key.count == 16, text.count == 32 else {
            d.report(keyNode, "bad ESAM key (expected 32 hex digits in quotes)")
            return nil
        }
        var settings = ESAMSettings(key: key)
        if let node = m["session_s"], let seconds = d.integer(node, in: 1...86_400) { settings.sessionSeconds = Double(seconds) }
        return settings
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func join(_ base: String, _ relative: String) -> String {
        if relative.hasPrefix("/") || base.isEmpty || base == "." { return relative }
        return base.hasSuffix("/") ? base + relative : base + "/" + relative
    }
}

/// Collects errors while walking the YAML tree.
struct Checker {
    var errors: [ConfigError] = []

    mutating func report(_ node: YAMLNode, _ message: String) { errors.append(ConfigError(node.location, message)) }

    mutating func mapping(_ node: YAMLNode, what: String, allowed: [String], required: [String] = []) -> [String: YAMLNode]? {
        guard case let .mapping(entries) = node.kind else {
            report(node, "expected a mapping for \(what), got \(node.kindName)")
            return nil
        }
        var values: [String: YAMLNode] = [:]
        for entry in entries {
            guard let key = entry.key.scalar else { report(entry.key, "expected a plain key in \(what)"); continue }
            if !allowed.contains(key) {
                report(entry.key, "unknown key '\(key)' in \(what) (expected one of: \(allowed.joined(separator: ", ")))")
            } else if values[key] != nil {
                report(entry.key, "duplicate key '\(key)' in \(what)")
            } else {
                values[key] = entry.value
            }
        }
        for key in required where values[key] == nil { report(node, "missing key '\(key)' in \(what)") }
        return values
    }

    mutating func list(_ node: YAMLNode?) -> [YAMLNode] {
        guard let node, !node.isNull else { return [] }
        guard case let .sequence(items) = node.kind else {
            report(node, "expected a list, got \(node.kindName)")
            return []
        }
        return items
    }

    mutating func string(_ node: YAMLNode) -> String? {
        guard let text = node.scalar, !node.isNull else {
            report(node, "expected a value, got \(node.kindName)")
            return nil
        }
        return text
    }

    mutating func integer(_ node: YAMLNode, in range: ClosedRange<Int>) -> Int? {
        guard let text = node.scalar, let value = Int(text) else {
            report(node, "expected an integer, got \(node.scalar.map { "'\($0)'" } ?? node.kindName)")
            return nil
        }
        guard range.contains(value) else {
            report(node, "\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return value
    }
}
