import MeterCore

/// One prepaid device's account as the store keeps it (local cost control). Amounts are the exact
/// decimal text the agent wrote (`ExactDecimal.description`); the store does no arithmetic.
public struct PrepaidAccountRow: Sendable, Hashable {
    public var device: String
    public var balance: String
    /// The last good reading of the metered register that was charged, and its time (UTC ms):
    /// the next reading is charged from here. nil until the first reading.
    public var reading: String?
    public var readingMs: Int64?
    /// The agent cut the supply (relay open, valve closed) for lack of credit and has not restored it.
    public var disconnected: Bool
    /// The `credit.low` / `credit.exhausted` alarms are raised.
    public var lowCredit: Bool
    public var exhausted: Bool
    /// The tariff `tariff.set` installed (its JSON); nil: the site config's.
    public var tariff: String?
    /// The balance and time of the last balance event (bounds consumption-driven events).
    public var eventBalance: String?
    public var eventMs: Int64?
    public var updatedMs: Int64

    public init(device: String, balance: String, reading: String? = nil, readingMs: Int64? = nil, disconnected: Bool = false,
                lowCredit: Bool = false, exhausted: Bool = false, tariff: String? = nil, eventBalance: String? = nil,
                eventMs: Int64? = nil, updatedMs: Int64) {
        self.device = device
        self.balance = balance
        self.reading = reading
        self.readingMs = readingMs
        self.disconnected = disconnected
        self.lowCredit = lowCredit
        self.exhausted = exhausted
        self.tariff = tariff
        self.eventBalance = eventBalance
        self.eventMs = eventMs
        self.updatedMs = updatedMs
    }
}

extension OutboxSchema {
    /// One row per device under local cost control, replaced whole at every change: the balance
    /// and the reading it was charged up to always change together, so whatever commit a
    /// `kill -9` leaves behind, the next reading is charged from the reading that balance saw —
    /// never twice, never skipped. `IF NOT EXISTS`: the upgrade from version 1 or 2 may meet a
    /// table that a downgraded file still has.
    static let prepaidAccounts = """
        CREATE TABLE IF NOT EXISTS prepaid_account(device TEXT PRIMARY KEY, balance TEXT NOT NULL, reading TEXT, reading_ms INTEGER,
            disconnected INTEGER NOT NULL, low_credit INTEGER NOT NULL, exhausted INTEGER NOT NULL, tariff TEXT,
            event_balance TEXT, event_ms INTEGER, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
        """

    static let prepaidColumns = "device, balance, reading, reading_ms, disconnected, low_credit, exhausted, tariff, event_balance, event_ms, updated_ms"
    static let savePrepaid = "INSERT OR REPLACE INTO prepaid_account(\(prepaidColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    static let loadPrepaid = "SELECT \(prepaidColumns) FROM prepaid_account ORDER BY device"
}

/// The prepaid accounts, next to the outbox so that a balance change, its events and (for
/// `credit.add` / `tariff.set`) the command's result commit in one transaction.
extension OutboxStore {
    /// Every stored account (devices that left the config keep theirs, in case they come back).
    public func prepaidAccounts() async throws(StoreError) -> [PrepaidAccountRow] {
        try await submit("read prepaid accounts") { engine throws(StoreError) in try engine.prepaidAccounts() }
    }

    /// Writes the accounts and appends `events` (class-0 records) in one transaction; returns the
    /// events' sequence numbers.
    @discardableResult
    public func savePrepaid(_ rows: [PrepaidAccountRow], events: [OutboxRecord]) async throws(StoreError) -> [UInt64] {
        try await submit("save prepaid account") { engine throws(StoreError) in
            try engine.transaction("save prepaid account") { () throws(StoreError) -> [UInt64] in
                for row in rows { try engine.savePrepaid(row) }
                return try engine.appendInTransaction(events)
            }
        }
    }

    /// `completeCommand` for the agent's own commands (`credit.add`, `tariff.set`): the command
    /// log's result, the result record, the account and its events in one transaction — a credit
    /// is in the balance exactly when its result is stored, so a re-delivered command (answered
    /// from the command log) can never add it twice, and a crash cannot leave it half applied.
    public func completeCommand(id: String, result record: OutboxRecord, account: PrepaidAccountRow?,
                                events: [OutboxRecord]) async throws(StoreError) -> UInt64 {
        try await submit("complete command") { engine throws(StoreError) in
            try engine.transaction("complete command") { () throws(StoreError) -> UInt64 in
                if let account { try engine.savePrepaid(account) }
                let seq = try engine.completeCommandInTransaction(id: id, record: record)
                _ = try engine.appendInTransaction(events)
                return seq
            }
        }
    }
}

extension OutboxEngine {
    func savePrepaid(_ row: PrepaidAccountRow) throws(StoreError) {
        let s = try statement(OutboxSchema.savePrepaid, "save prepaid account")
        try s.bind(row.device, at: 1)
        try s.bind(row.balance, at: 2)
        // Unbound parameters are NULL (`statement` clears the bindings).
        if let reading = row.reading { try s.bind(reading, at: 3) }
        if let readingMs = row.readingMs { try s.bind(readingMs, at: 4) }
        try s.bind(row.disconnected ? 1 : 0, at: 5)
        try s.bind(row.lowCredit ? 1 : 0, at: 6)
        try s.bind(row.exhausted ? 1 : 0, at: 7)
        if let tariff = row.tariff { try s.bind(tariff, at: 8) }
        if let eventBalance = row.eventBalance { try s.bind(eventBalance, at: 9) }
        if let eventMs = row.eventMs { try s.bind(eventMs, at: 10) }
        try s.bind(row.updatedMs, at: 11)
        try s.run()
    }

    func prepaidAccounts() throws(StoreError) -> [PrepaidAccountRow] {
        let s = try statement(OutboxSchema.loadPrepaid, "read prepaid accounts")
        defer { s.reset() }
        return try Self.prepaidRows(s)
    }

    /// The rows of `OutboxSchema.loadPrepaid`.
    private static func prepaidRows(_ s: SQLiteStatement) throws(StoreError) -> [PrepaidAccountRow] {
        var rows: [PrepaidAccountRow] = []
        while try s.step() { rows.append(prepaidRow(s)) }
        return rows
    }

    private static func prepaidRow(_ s: SQLiteStatement) -> PrepaidAccountRow {
        PrepaidAccountRow(device: s.text(0), balance: s.text(1), reading: s.isNull(2) ? nil : s.text(2),
                          readingMs: s.isNull(3) ? nil : s.int64(3), disconnected: s.int64(4) != 0, lowCredit: s.int64(5) != 0,
                          exhausted: s.int64(6) != 0, tariff: s.isNull(7) ? nil : s.text(7),
                          eventBalance: s.isNull(8) ? nil : s.text(8), eventMs: s.isNull(9) ? nil : s.int64(9),
                          updatedMs: s.int64(10))
    }

    /// The accounts of a store that is being moved aside as corrupt, if that much of it can still
    /// be read: balances are money, and starting them again from `initial_balance` would give
    /// credit away (or take it). Empty when nothing can be read.
    static func salvagePrepaid(_ path: String) -> [PrepaidAccountRow] {
        do throws(StoreError) {
            let db = try SQLiteConnection(path: path, readOnly: true)
            return try prepaidRows(db.prepare(OutboxSchema.loadPrepaid, "salvage"))
        } catch {
            return []
        }
    }
}
