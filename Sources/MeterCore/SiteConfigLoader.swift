import MeterProtocols

/// Loads a gateway's site config (buses and the devices on them, see
/// `Hardware/examples/example-site.yaml`) and checks it against the device profiles, reporting
/// every problem at its file, line and column.
public enum SiteConfigLoader {
    static let topKeys = ["gateway", "profiles", "buses", "devices", "mqtt", "store", "commands", "readers", "cards", "apply"]
    static let serialBusKeys = ["id", "type", "port", "baud", "parity", "data_bits", "stop_bits", "rs485",
                                "protocol", "timeout_ms", "retries", "queue_depth"]
    static let tcpBusKeys = ["id", "type", "host", "port", "protocol", "timeout_ms", "retries", "queue_depth"]
    static let anyBusKeys = ["id", "type", "port", "baud", "parity", "data_bits", "stop_bits", "rs485",
                             "protocol", "timeout_ms", "retries", "queue_depth", "host"]
    static let deviceKeys = ["id", "bus", "unit", "profile", "poll_interval", "tags", "address", "password", "operator", "protected", "alarms", "cost_control"]
    static let installedProfiles = "/usr/share/meteragent/profiles"

    /// Loads `path` and the profiles it refers to. Profiles come from `profilesDirectory` when
    /// given, else from the config's `profiles:` key (relative to the config file), else from the
    /// first directory that exists of `./Hardware/profiles`, `<config dir>/../profiles` and
    /// `/usr/share/meteragent/profiles`.
    public static func load(path: String, profilesDirectory: String? = nil) throws(ConfigErrors) -> SiteConfig {
        guard let text = readTextFile(path) else {
            throw ConfigErrors([ConfigError(SourceLocation(file: path, line: 1, column: 1), "cannot read file")])
        }
        return try load(text: text, asIfAt: path, profilesDirectory: profilesDirectory)
    }

    /// Loads `text` as if it were the file at `path` (a config about to replace it, or one from the
    /// history): relative paths and errors are `path`'s.
    public static func load(text: String, asIfAt path: String, profilesDirectory: String? = nil) throws(ConfigErrors) -> SiteConfig {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text, file: path) } catch { throw ConfigErrors([error]) }

        var d = ConfigDiagnostics()
        let directory: String
        if let profilesDirectory {
            directory = profilesDirectory
        } else if let node = root["profiles"] {
            guard let written = d.string(node, "profiles") else { throw ConfigErrors(d.sorted) }
            directory = FilePaths.join(FilePaths.directory(of: path), written)
            if !FilePaths.isDirectory(directory) {
                d.report(node, "profiles directory '\(written)' not found (looked in \(FilePaths.tidy(directory)))")
                throw ConfigErrors(d.sorted)
            }
        } else {
            let candidates = ["Hardware/profiles", FilePaths.tidy(FilePaths.join(FilePaths.directory(of: path), "../profiles")), installedProfiles]
            guard let found = candidates.first(where: FilePaths.isDirectory) else {
                d.report(SourceLocation(file: path, line: 1, column: 1),
                         "no profiles directory found (looked in \(candidates.joined(separator: ", "))); set 'profiles:'")
                throw ConfigErrors(d.sorted)
            }
            directory = found
        }
        let loaded = ProfileLoader.loadDirectoryLeniently(directory)
        if let unreadable = loaded.unreadableDirectory { throw ConfigErrors([unreadable]) }
        let catalog = ProfileCatalog(profiles: loaded.profiles, broken: loaded.errors, directory: FilePaths.tidy(directory))
        return try decode(root, file: path, catalog: catalog)
    }

    /// Validates config text against already loaded profiles (for tests and remote configs).
    public static func load(text: String, file: String, profiles: [String: DeviceProfile]) throws(ConfigErrors) -> SiteConfig {
        let root: YAMLNode
        do { root = try YAMLParser.parse(text, file: file) } catch { throw ConfigErrors([error]) }
        return try decode(root, file: file, catalog: ProfileCatalog(profiles: profiles, broken: [:], directory: nil))
    }

    struct ProfileCatalog {
        var profiles: [String: DeviceProfile]
        /// Profiles that exist but failed validation, with their own errors.
        var broken: [String: [ConfigError]]
        var directory: String?
    }

    static func decode(_ root: YAMLNode, file: String, catalog: ProfileCatalog) throws(ConfigErrors) -> SiteConfig {
        var d = ConfigDiagnostics()
        var profileErrors: [ConfigError] = []
        guard let top = d.mapping(root, what: "site config", allowed: topKeys, required: ["gateway"]) else {
            throw ConfigErrors(d.sorted)
        }
        let gateway = d.string(top, "gateway")
        if let gateway, !isPlainIdentifier(gateway) {
            d.report(top["gateway"]!, "invalid gateway id '\(gateway)' (use letters, digits, '.', '_', '-')")
        }
        if top["profiles"] != nil { _ = d.string(top, "profiles") }

        var buses: [BusConfig] = []
        var busNodes: [BusID: YAMLNode] = [:]
        // Buses as written, valid or not: a bus with a bad timeout must not make every device on
        // it report "unknown bus" as well.
        var declaredBusTypes: [String: String] = [:]
        var declaredBusProtocols: [String: WireProtocol] = [:]
        if let items = top["buses"], case let .sequence(nodes) = items.kind {
            for node in nodes {
                if let id = node["id"]?.scalar, declaredBusTypes[id] == nil { declaredBusTypes[id] = node["type"]?.scalar ?? "" }
                if let id = node["id"]?.scalar, declaredBusProtocols[id] == nil {
                    declaredBusProtocols[id] = node["protocol"]?.scalar.flatMap(WireProtocol.init(rawValue:)) ?? .modbus
                }
            }
        }
        var portsInUse: [String: BusID] = [:]
        for item in d.list(top, "buses") ?? [] {
            guard let decoded = decodeBus(item, into: &d) else { continue }
            let (bus, idNode) = decoded
            if let first = busNodes[bus.id] {
                d.report(idNode, "duplicate bus id '\(bus.id)' (first at line \(first.location.line))")
                continue
            }
            if case let .serial(port, _, _) = bus.transport {
                if let other = portsInUse[port] {
                    d.report(item["port"] ?? item, "port '\(port)' is already used by bus '\(other)'")
                }
                portsInUse[port] = bus.id
            }
            busNodes[bus.id] = idNode
            buses.append(bus)
        }

        var devices: [DeviceConfig] = []
        var deviceNodes: [DeviceID: YAMLNode] = [:]
        var unitsInUse: [BusID: [UnitID: DeviceID]] = [:]
        var addressesInUse: [BusID: [String: DeviceID]] = [:]
        var reportedProfiles: Set<String> = []
        for item in d.list(top, "devices") ?? [] {
            let label = item["id"]?.scalar.map { "device '\($0)'" } ?? "device"
            guard let m = d.mapping(item, what: label, allowed: deviceKeys, required: ["id", "bus", "profile"]) else { continue }
            let before = d.errors.count
            let id = d.string(m, "id")
            if let id, !isPlainIdentifier(id) {
                d.report(m["id"]!, "invalid device id '\(id)' (use letters, digits, '.', '_', '-')")
            }
            if let id, let first = deviceNodes[DeviceID(id)] {
                d.report(m["id"]!, "duplicate device id '\(id)' (first at line \(first.location.line))")
            }
            let busName = d.string(m, "bus")
            let bus = busName.flatMap { name in buses.first { $0.id.rawValue == name } }
            if let busName, bus == nil, declaredBusTypes[busName] == nil {
                let known = buses.map(\.id.rawValue)
                d.report(m["bus"]!, "unknown bus '\(busName)'" + (known.isEmpty ? " (no buses defined)" : " (buses: \(known.joined(separator: ", ")))"))
            }
            // Modbus devices have a unit id; DL/T 645 and CJ/T 188 meters a BCD address instead.
            let lineProtocol = busName.flatMap { declaredBusProtocols[$0] }
            let addressing = decodeAddressing(m, label: label, bus: busName, protocol: lineProtocol, into: &d)
            let unit = addressing.usesAddress ? UnitID(0)
                : decodeUnit(m, bus: busName.map { BusID($0) }, type: busName.flatMap { declaredBusTypes[$0] }, into: &d)
            let profile = decodeProfileReference(m, catalog: catalog, reported: &reportedProfiles,
                                                 profileErrors: &profileErrors, into: &d)
            if let profile, let bus, profile.protocolName != bus.protocolName {
                d.report(m["profile"]!, "profile '\(profile.name)' speaks \(profile.protocolName.rawValue) but bus '\(bus.id)' speaks \(bus.protocolName.rawValue) (one protocol per line)")
            }
            let interval = m["poll_interval"].map { decodeInterval($0, into: &d) } ?? 10_000
            let tags = m["tags"].map { decodeTags($0, into: &d) } ?? [:]
            let protected = m["protected"] == nil ? false : d.bool(m, "protected")
            let alarms = m["alarms"].map { decodeAlarms($0, profile: profile, device: id ?? "?", into: &d) } ?? []
            let costControl = m["cost_control"].flatMap { decodeCostControl($0, profile: profile, protected: protected ?? false, into: &d) }

            if let address = addressing.address, let bus, let id {
                if let other = addressesInUse[bus.id]?[address] {
                    d.report(m["address"]!, "address \(address) on bus '\(bus.id)' is already used by device '\(other)'")
                } else {
                    addressesInUse[bus.id, default: [:]][address] = DeviceID(id)
                }
            } else if !addressing.usesAddress, let unit, let bus, let id {
                if let other = unitsInUse[bus.id]?[unit] {
                    d.report(m["unit"]!, "unit \(unit) on bus '\(bus.id)' is already used by device '\(other)'")
                } else {
                    unitsInUse[bus.id, default: [:]][unit] = DeviceID(id)
                }
            }
            guard d.errors.count == before, let id, let bus, let unit, let profile, let interval, let tags, let protected, let alarms else {
                if let id, deviceNodes[DeviceID(id)] == nil { deviceNodes[DeviceID(id)] = m["id"]! }
                continue
            }
            deviceNodes[DeviceID(id)] = m["id"]!
            var device = DeviceConfig(id: DeviceID(id), bus: bus.id, unit: unit, profile: profile,
                                      pollIntervalMs: interval, tags: tags)
            device.address = addressing.address
            device.credentials = addressing.credentials
            device.protected = protected
            device.alarms = alarms
            device.costControl = costControl
            devices.append(device)
        }

        let readers = decodeReaders(top, devices: devices, declaredDevices: Set(deviceNodes.keys.map(\.rawValue)),
                                    portsInUse: portsInUse, into: &d)
        let mqtt = top["mqtt"].flatMap { decodeMQTT($0, gateway: gateway, file: file, into: &d) }
        let store = top["store"].map { decodeStore($0, file: file, into: &d) } ?? StoreConfig()
        let commands = top["commands"].map { decodeCommands($0, file: file, into: &d) } ?? CommandSettings()
        // Without a `cards:` section ids are masked: hashing needs a key the site must provide.
        let cards = top["cards"].map { decodeCards($0, file: file, into: &d) } ?? CardSettings(idPrivacy: .mask)
        let apply = top["apply"].map { decodeApply($0, into: &d) } ?? ConfigApplySettings()

        let errors = d.sorted + profileErrors
        guard errors.isEmpty, let gateway else { throw ConfigErrors(errors) }
        var site = SiteConfig(gatewayID: gateway, buses: buses, devices: devices, source: file)
        site.mqtt = mqtt
        site.store = store
        site.commands = commands
        site.readers = readers
        site.cards = cards
        site.apply = apply
        return site
    }

    // MARK: - Buses

    static func decodeBus(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> (BusConfig, YAMLNode)? {
        let type = node["type"]?.scalar
        let name = node["id"]?.scalar.map { " '\($0)'" } ?? ""
        let (allowed, label) = switch type {
        case "serial": (serialBusKeys, "serial bus" + name)
        case "tcp": (tcpBusKeys, "tcp bus" + name)
        default: (anyBusKeys, "bus" + name)
        }
        guard let m = d.mapping(node, what: label, allowed: allowed, required: ["id", "type"]) else { return nil }
        let before = d.errors.count

        let id = d.string(m, "id")
        if let id, !isPlainIdentifier(id) {
            d.report(m["id"]!, "invalid bus id '\(id)' (use letters, digits, '.', '_', '-')")
        }
        if let typeNode = m["type"], type != "serial", type != "tcp" {
            d.report(typeNode, "unknown bus type \(describe(typeNode)) (expected one of: serial, tcp)")
        }
        let wire = m["protocol"] == nil ? WireProtocol.modbus : d.choice(m, "protocol", as: WireProtocol.self, label: "protocol")
        let timeout = m["timeout_ms"] == nil ? 500 : d.integer(m, "timeout_ms", range: 10...60_000)
        let retries = m["retries"] == nil ? 1 : d.integer(m, "retries", range: 0...10)
        let depth = m["queue_depth"] == nil ? 64 : d.integer(m, "queue_depth", range: 1...10_000)

        var transport: BusTransport?
        if type == "serial" {
            if m["port"] == nil { d.report(node, "missing key 'port' in \(label)") }
            let port = m["port"].flatMap { decodeSerialPort($0, into: &d) }
            var settings = ProfileLoader.decodeSerialFields(m, into: &d)
            // Baud and parity not written: the protocol's usual line (DL/T 645-2007 2400 8E1).
            if let wire, var line = settings {
                if m["baud"] == nil { line.baud = wire.defaultSerialSettings.baud }
                if m["parity"] == nil { line.parity = wire.defaultSerialSettings.parity }
                settings = line
            }
            let rs485 = m["rs485"] == nil ? false : d.bool(m, "rs485")
            if let port, let settings, let rs485 { transport = .serial(port: port, settings: settings, rs485: rs485) }
        } else if type == "tcp" {
            if m["host"] == nil { d.report(node, "missing key 'host' in \(label)") }
            let host = d.string(m, "host")
            let port = m["port"] == nil ? 502 : d.integer(m, "port", range: 1...65535)
            if let host, let port { transport = .tcp(host: host, port: port) }
        }

        guard d.errors.count == before, let id, let transport, let wire, let timeout, let retries, let depth else { return nil }
        let bus = BusConfig(id: BusID(id), transport: transport, protocolName: wire, timeoutMs: timeout,
                            retries: retries, queueDepth: depth)
        return (bus, m["id"]!)
    }

    /// A device path (kept as written, relative or not: a simulator's pty symlink must not be
    /// resolved) or a USB identity `usb:VID:PID[:SERIAL]` that survives renumbering.
    static func decodeSerialPort(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> String? {
        guard let port = d.string(node, "port") else { return nil }
        guard port.hasPrefix("usb:") else { return port }
        let parts = port.split(separator: ":", omittingEmptySubsequences: false)
        let isHex4 = { (s: Substring) in s.count == 4 && s.allSatisfy(\.isHexDigit) }
        guard parts.count == 3 || parts.count == 4, isHex4(parts[1]), isHex4(parts[2]),
              parts.count == 3 || !parts[3].isEmpty else {
            d.report(node, "bad USB port '\(port)' (expected usb:VID:PID or usb:VID:PID:SERIAL, e.g. usb:0403:6001)")
            return nil
        }
        return port
    }

    // MARK: - Devices

    /// Serial lines address 1–247 (0 is broadcast); Modbus TCP gateways pass 0–255 through.
    static func decodeUnit(_ m: CheckedMapping, bus: BusID?, type: String?, into d: inout ConfigDiagnostics) -> UnitID? {
        guard let node = m["unit"] else { return nil }
        guard let text = node.scalar, !node.isNull, let value = parseInteger(text) else {
            d.report(node, "expected an integer for 'unit', got \(describe(node))")
            return nil
        }
        let range: ClosedRange<Int>
        let suffix: String
        switch (type, bus) {
        case let ("serial", bus?): range = 1...247; suffix = " for serial bus '\(bus)'"
        case let ("tcp", bus?): range = 0...255; suffix = " for tcp bus '\(bus)'"
        default: range = 0...255; suffix = ""
        }
        guard range.contains(value) else {
            d.report(node, "unit id \(value) out of range \(range.lowerBound)–\(range.upperBound)\(suffix)")
            return nil
        }
        return UnitID(UInt8(value))
    }

    static func decodeProfileReference(_ m: CheckedMapping, catalog: ProfileCatalog, reported: inout Set<String>,
                                       profileErrors: inout [ConfigError], into d: inout ConfigDiagnostics) -> DeviceProfile? {
        guard let name = d.string(m, "profile") else { return nil }
        if let profile = catalog.profiles[name] { return profile }
        let node = m["profile"]!
        if let errors = catalog.broken[name] {
            d.report(node, "profile '\(name)' has errors")
            if reported.insert(name).inserted { profileErrors += errors }
            return nil
        }
        let known = catalog.profiles.keys.sorted() + catalog.broken.keys.sorted()
        let close = closeNames(to: name, in: known)
        let place = catalog.directory.map { "profiles in \($0)" } ?? "known profiles"
        if !close.isEmpty {
            d.report(node, "unknown profile '\(name)' (did you mean \(close.joined(separator: ", "))?)")
        } else if known.isEmpty {
            d.report(node, "unknown profile '\(name)' (no \(place))")
        } else {
            d.report(node, "unknown profile '\(name)' (\(place): \(known.joined(separator: ", ")))")
        }
        return nil
    }

    /// Names a typo is probably aiming at: one contains the other once punctuation and case are
    /// dropped (`sdm-120` → `eastron-sdm120`), or they are within two edits.
    static func closeNames(to wanted: String, in names: [String]) -> [String] {
        let squash = { (s: String) in String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }
        let w = squash(wanted)
        return names.filter { name in
            let n = squash(name)
            return (!w.isEmpty && (n.contains(w) || w.contains(n))) || editDistance(wanted, name) <= 2
        }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// `500ms`, `15s`, `5m`, `1h` or a bare number of seconds; 100 ms to 24 h.
    static func decodeInterval(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> Int? {
        guard let text = node.scalar, !node.isNull, let ms = parseInterval(text) else {
            d.report(node, "bad poll interval \(describe(node)) (expected e.g. 500ms, 15s, 5m, 1h or a number of seconds)")
            return nil
        }
        guard (100...86_400_000).contains(ms) else {
            d.report(node, "poll interval '\(text)' out of range 100ms–24h")
            return nil
        }
        return ms
    }

    /// Milliseconds, or nil when `text` is not a duration.
    public static func parseInterval(_ text: String) -> Int? {
        let units: [(suffix: String, ms: Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(number) else { return nil }
            let (ms, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : ms
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) else { return nil }
        let (ms, overflow) = n.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : ms
    }

    /// Free-form labels (`flat: "301"`) passed through with every reading.
    static func decodeTags(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> [String: String]? {
        guard case let .mapping(entries) = node.kind else {
            d.report(node, "expected a mapping for 'tags', got \(describe(node))")
            return nil
        }
        var tags: [String: String] = [:]
        var ok = true
        for entry in entries {
            guard let key = entry.key.scalar, !entry.key.isNull, isPlainIdentifier(key) else {
                d.report(entry.key, "bad tag name \(describe(entry.key)) (use letters, digits, '.', '_', '-')")
                ok = false
                continue
            }
            guard let value = entry.value.scalar, !entry.value.isNull else {
                d.report(entry.value, "expected a string for tag '\(key)', got \(describe(entry.value))")
                ok = false
                continue
            }
            if tags[key] != nil {
                d.report(entry.key, "duplicate tag '\(key)'")
                ok = false
            }
            tags[key] = value
        }
        return ok ? tags : nil
    }
}
