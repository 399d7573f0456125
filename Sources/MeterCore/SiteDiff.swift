/// What changes between two site configs, as a technician reviews it before `config apply`:
/// buses, devices and readers added, removed or changed (with the fields that changed), and the
/// site-wide sections that differ. Credentials are compared, never shown.
public struct SiteDiff: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public enum Change: Sendable, Equatable {
            case added(String)
            case removed
            /// `field: old → new`, one per field.
            case changed([String])
        }

        public var id: String
        public var change: Change
    }

    public var buses: [Entry] = []
    public var devices: [Entry] = []
    public var readers: [Entry] = []
    /// Top-level sections (`gateway`, `mqtt`, `store`, `commands`, `cards`, `apply`) that differ.
    public var sections: [String] = []

    public var isEmpty: Bool { buses.isEmpty && devices.isEmpty && readers.isEmpty && sections.isEmpty }

    public init(from old: SiteConfig, to new: SiteConfig) {
        buses = Self.compare(old.buses, new.buses, id: \.id.rawValue, describe: Self.describe, fields: Self.fields)
        devices = Self.compare(old.devices, new.devices, id: \.id.rawValue, describe: Self.describe, fields: Self.fields)
        readers = Self.compare(old.readers, new.readers, id: \.id.rawValue, describe: Self.describe, fields: Self.fields)
        let sectionChanges: [(String, Bool)] = [
            ("gateway", old.gatewayID != new.gatewayID), ("mqtt", old.mqtt != new.mqtt), ("store", old.store != new.store),
            ("commands", old.commands != new.commands), ("cards", old.cards != new.cards), ("apply", old.apply != new.apply),
        ]
        sections = sectionChanges.filter(\.1).map(\.0)
    }

    /// The diff as `config diff` prints it: `+ id (what)`, `- id`, `~ id: field old → new, …`.
    public var lines: [String] {
        var lines: [String] = []
        for (title, entries) in [("buses", buses), ("devices", devices), ("readers", readers)] where !entries.isEmpty {
            lines.append("\(title):")
            for entry in entries {
                switch entry.change {
                case let .added(what): lines.append("  + \(entry.id) (\(what))")
                case .removed: lines.append("  - \(entry.id)")
                case let .changed(fields): lines.append("  ~ \(entry.id): " + fields.joined(separator: ", "))
                }
            }
        }
        if !sections.isEmpty { lines.append("changed sections: " + sections.joined(separator: ", ")) }
        return lines
    }

    static func compare<Item: Equatable>(_ old: [Item], _ new: [Item], id: (Item) -> String, describe: (Item) -> String,
                                         fields: (Item) -> [(String, String)]) -> [Entry] {
        let oldByID = Dictionary(old.map { (id($0), $0) }, uniquingKeysWith: { first, _ in first })
        let newIDs = Set(new.map(id))
        var entries: [Entry] = []
        for item in new {
            guard let before = oldByID[id(item)] else {
                entries.append(Entry(id: id(item), change: .added(describe(item))))
                continue
            }
            guard before != item else { continue }
            let was = Dictionary(fields(before), uniquingKeysWith: { first, _ in first })
            var changed: [String] = []
            for (name, value) in fields(item) where was[name] != value {
                changed.append("\(name) \(was[name] ?? "none") → \(value)")
            }
            entries.append(Entry(id: id(item), change: .changed(changed.isEmpty ? ["other settings (e.g. the profile's contents)"] : changed)))
        }
        for item in old where !newIDs.contains(id(item)) { entries.append(Entry(id: id(item), change: .removed)) }
        return entries
    }

    static func fields(_ bus: BusConfig) -> [(String, String)] {
        var fields: [(String, String)] = [("protocol", bus.protocolName.rawValue)]
        switch bus.transport {
        case let .serial(port, settings, rs485):
            fields += [("port", port), ("line", settings.summary), ("rs485", String(rs485))]
        case let .tcp(host, port):
            fields += [("host", host), ("port", String(port))]
        }
        return fields + [("timeout_ms", String(bus.timeoutMs)), ("retries", String(bus.retries)), ("queue_depth", String(bus.queueDepth)),
                         ("backoff_ms", "\(bus.backoffInitialMs)..\(bus.backoffMaxMs)"), ("reconnect_ms", String(bus.reconnectInitialMs))]
    }

    static func describe(_ bus: BusConfig) -> String {
        switch bus.transport {
        case let .serial(port, settings, _): "\(bus.protocolName.rawValue) on \(port) \(settings.summary)"
        case let .tcp(host, port): "\(bus.protocolName.rawValue) tcp \(host):\(port)"
        }
    }

    static func fields(_ device: DeviceConfig) -> [(String, String)] {
        [("bus", device.bus.rawValue), ("unit", String(device.unit.rawValue)), ("address", device.address ?? "none"),
         ("profile", device.profile.name), ("poll_interval_ms", String(device.pollIntervalMs)),
         ("protected", String(device.protected)), ("tags", device.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")),
         ("alarms", device.alarms.map(\.name).joined(separator: ",")), ("cost_control", device.costControl == nil ? "off" : "on"),
         ("credentials", device.credentials == nil ? "none" : "set")]
    }

    static func describe(_ device: DeviceConfig) -> String {
        "\(device.profile.name) on \(device.bus.rawValue) " + (device.address.map { "address \($0)" } ?? "unit \(device.unit.rawValue)")
    }

    static func fields(_ reader: CardReaderConfig) -> [(String, String)] {
        [("type", reader.type.rawValue), ("port", reader.port), ("baud", String(reader.baud)),
         ("supply_point", reader.supplyPoint?.rawValue ?? "none"), ("debounce_ms", String(reader.debounceMs))]
    }

    static func describe(_ reader: CardReaderConfig) -> String {
        "\(reader.type.rawValue) on \(reader.port)" + (reader.supplyPoint.map { " for \($0.rawValue)" } ?? "")
    }
}
