extension SiteConfigLoader {
    static let readerKeys = ["id", "type", "port", "baud", "supply_point", "debounce_ms"]

    /// The `readers:` list: card readers, each on a serial port of its own, and the supply point
    /// (a configured device) a reader guards.
    static func decodeReaders(_ top: CheckedMapping, devices: [DeviceConfig], declaredDevices: Set<String>,
                              portsInUse: [String: BusID], into d: inout ConfigDiagnostics) -> [CardReaderConfig] {
        var readers: [CardReaderConfig] = []
        var readerNodes: [ReaderID: YAMLNode] = [:]
        var readerPorts: [String: ReaderID] = [:]
        for item in d.list(top, "readers") ?? [] {
            let label = item["id"]?.scalar.map { "reader '\($0)'" } ?? "reader"
            guard let m = d.mapping(item, what: label, allowed: readerKeys, required: ["id", "type", "port"]) else { continue }
            let before = d.errors.count
            let id = d.string(m, "id")
            if let id, !isPlainIdentifier(id) {
                d.report(m["id"]!, "invalid reader id '\(id)' (use letters, digits, '.', '_', '-')")
            }
            if let id, let first = readerNodes[ReaderID(id)] {
                d.report(m["id"]!, "duplicate reader id '\(id)' (first at line \(first.location.line))")
            }
            let type = d.choice(m, "type", as: CardReaderType.self, label: "reader type")
            let port = m["port"].flatMap { decodeSerialPort($0, into: &d) }
            if let port {
                if let bus = portsInUse[port] {
                    d.report(m["port"]!, "port '\(port)' is already used by bus '\(bus)'")
                } else if let other = readerPorts[port] {
                    d.report(m["port"]!, "port '\(port)' is already used by reader '\(other)'")
                }
            }
            let baud = m["baud"] == nil ? type?.defaultBaud : d.integer(m, "baud", range: 1_200...921_600)
            let debounce = m["debounce_ms"] == nil ? CardReaderConfig.defaultDebounceMs : d.integer(m, "debounce_ms", range: 0...60_000)
            var supplyPoint: DeviceID?
            if m["supply_point"] != nil, let name = d.string(m, "supply_point") {
                if !declaredDevices.contains(name) {
                    let known = devices.map(\.id.rawValue)
                    d.report(m["supply_point"]!, "unknown device '\(name)' for supply_point" + (known.isEmpty ? " (no devices defined)" : " (devices: \(known.joined(separator: ", ")))"))
                } else if let device = devices.first(where: { $0.id.rawValue == name }),
                          device.profile.actions[.relayClose] == nil || device.profile.actions[.relayOpen] == nil {
                    d.report(m["supply_point"]!, "device '\(name)' (profile '\(device.profile.name)') has no relay.close and relay.open: a supply point must be switchable")
                }
                supplyPoint = DeviceID(name)
            }
            if let id { readerNodes[ReaderID(id)] = readerNodes[ReaderID(id)] ?? m["id"]! }
            guard d.errors.count == before, let id, let type, let port, let baud, let debounce else { continue }
            readerPorts[port] = ReaderID(id)
            readers.append(CardReaderConfig(id: ReaderID(id), type: type, port: port, baud: baud,
                                            supplyPoint: supplyPoint, debounceMs: debounce))
        }
        return readers
    }
}
