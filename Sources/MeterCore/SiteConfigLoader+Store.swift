/// The optional `store:` section of a site config: where the outbox lives and how big it may grow.
///
/// ```yaml
/// store:
///   path: /var/lib/meteragent/outbox.db   # relative paths are taken from the config file's directory
///   max_bytes: 64MB                        # bytes, or 512kB / 64MB / 1GB
///   sync: full                             # full (default) or normal, see StoreSync
///   flush_interval: 1s                     # how long readings are collected per commit
/// ```
extension SiteConfigLoader {
    static let storeKeys = ["path", "max_bytes", "sync", "flush_interval"]

    /// Decodes `store:`; reports every problem and falls back to defaults for what is wrong (the
    /// errors make the load fail anyway).
    static func decodeStore(_ node: YAMLNode, file: String, into d: inout ConfigDiagnostics) -> StoreConfig {
        var store = StoreConfig()
        guard let m = d.mapping(node, what: "store", allowed: storeKeys) else { return store }
        if m["path"] != nil, let written = d.string(m, "path") {
            store.path = FilePaths.join(FilePaths.directory(of: file), written)
        }
        if let node = m["max_bytes"] {
            let range = StoreConfig.minimumMaxBytes...(Int64(1) << 40)
            if let text = node.scalar, !node.isNull, let bytes = StoreConfig.parseBytes(text) {
                if range.contains(bytes) {
                    store.maxBytes = bytes
                } else {
                    d.report(node, "max_bytes \(text) out of range 64kB–1TB")
                }
            } else {
                d.report(node, "expected a size for 'max_bytes' (bytes, or e.g. 512kB, 64MB, 1GB), got \(describe(node))")
            }
        }
        if m["sync"] != nil, let sync = d.choice(m, "sync", as: StoreSync.self, label: "sync mode", normalize: { $0.lowercased() }) {
            store.sync = sync
        }
        if let node = m["flush_interval"] {
            if let text = node.scalar, !node.isNull, let ms = parseInterval(text), (50...60_000).contains(ms) {
                store.flushIntervalMs = ms
            } else {
                d.report(node, "bad flush_interval \(describe(node)) (expected 50ms to 60s, e.g. 500ms or 1s)")
            }
        }
        return store
    }
}
