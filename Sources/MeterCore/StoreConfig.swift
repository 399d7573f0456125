/// When a commit reaches the medium.
///
/// The store runs SQLite in WAL mode. With `full`, every commit fsyncs the write-ahead log before it
/// returns, so a record the agent has reported stored survives `kill -9` *and* a power cut. With
/// `normal`, the log is fsynced only at checkpoints: a commit still survives `kill -9` (the data is
/// in the kernel's page cache) but the last commits before a power cut can be lost — never the
/// database's consistency. Billing-grade gateways keep `full`, the default.
public enum StoreSync: String, Sendable, Hashable, CaseIterable {
    case full
    case normal
}

/// The `store:` section of a site config: where the outbox lives and how big it may grow.
public struct StoreConfig: Sendable, Hashable {
    public static let defaultPath = "/var/lib/meteragent/outbox.db"
    public static let defaultMaxBytes: Int64 = 64 << 20
    /// Below this the database's own pages leave no room for records.
    public static let minimumMaxBytes: Int64 = 64 << 10

    /// The database file. Reconfiguration never deletes it; a new path starts a new store.
    public var path: String
    /// Byte budget for the database and its write-ahead log together. When it is reached the store
    /// evicts class 2 (instantaneous) oldest first, then class 1 (billing), and reports every drop.
    public var maxBytes: Int64
    public var sync: StoreSync
    /// How long the agent collects readings before it commits them in one transaction.
    public var flushIntervalMs: Int

    public init(path: String = StoreConfig.defaultPath, maxBytes: Int64 = StoreConfig.defaultMaxBytes,
                sync: StoreSync = .full, flushIntervalMs: Int = 1000) {
        self.path = path
        self.maxBytes = maxBytes
        self.sync = sync
        self.flushIntervalMs = flushIntervalMs
    }

    /// `67108864`, `64MB`, `512kB`, `1GB`, `64MiB` → bytes (kB = 1024, as flash budgets are meant);
    /// nil for anything else or an overflow.
    public static func parseBytes(_ text: String) -> Int64? {
        let units: [(suffix: String, factor: Int64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
            ("kB", 1 << 10), ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30),
            ("k", 1 << 10), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        var number = Substring(text)
        var factor: Int64 = 1
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        while number.last == " " { number = number.dropLast() }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(number) else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : bytes
    }
}
