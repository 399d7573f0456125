import MeterCore

/// A customer session open at a reader, as the store keeps it until the session ends.
public struct CardSessionRow: Sendable, Hashable {
    public var reader: String
    public var device: String
    /// The card in clear (`em4100:0F00271DA5`): the gateway must recognise it when it comes back.
    /// It never leaves the gateway in this form.
    public var card: String
    /// The register the session is metered on, and its reading at the start (exact decimal text;
    /// nil when the meter could not be read then).
    public var point: String
    public var startReading: String?
    public var startMs: Int64

    public init(reader: String, device: String, card: String, point: String, startReading: String?, startMs: Int64) {
        self.reader = reader
        self.device = device
        self.card = card
        self.point = point
        self.startReading = startReading
        self.startMs = startMs
    }
}

extension OutboxSchema {
    static let loadCardSessions = "SELECT reader, device, card, point, start_reading, start_ms FROM card_session ORDER BY reader"
    static let saveCardSession = "INSERT OR REPLACE INTO card_session(reader, device, card, point, start_reading, start_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    static let deleteCardSession = "DELETE FROM card_session WHERE reader = ?1"
}

extension OutboxStore {
    public func cardSessions() async throws(StoreError) -> [CardSessionRow] {
        try await submit("read card sessions") { engine throws(StoreError) in try engine.cardSessions() }
    }

    /// Opens (`session` given) or ends (nil) the session at `reader`, with its events (class 0),
    /// in one transaction: a session is open in the store exactly when its start event is stored,
    /// and its end event is stored exactly when it is closed.
    @discardableResult
    public func saveCardSession(reader: String, _ session: CardSessionRow?, events: [OutboxRecord]) async throws(StoreError) -> [UInt64] {
        try await submit("save card session") { engine throws(StoreError) in
            try engine.transaction("save card session") { () throws(StoreError) -> [UInt64] in
                if let session {
                    try engine.saveCardSession(session)
                } else {
                    let s = try engine.statement(OutboxSchema.deleteCardSession, "end card session")
                    try s.bind(reader, at: 1)
                    try s.run()
                }
                return try engine.appendInTransaction(events)
            }
        }
    }
}

extension OutboxEngine {
    func saveCardSession(_ session: CardSessionRow) throws(StoreError) {
        let s = try statement(OutboxSchema.saveCardSession, "save card session")
        try s.bind(session.reader, at: 1)
        try s.bind(session.device, at: 2)
        try s.bind(session.card, at: 3)
        try s.bind(session.point, at: 4)
        if let start = session.startReading { try s.bind(start, at: 5) }
        try s.bind(session.startMs, at: 6)
        try s.run()
    }

    func cardSessions() throws(StoreError) -> [CardSessionRow] {
        let s = try statement(OutboxSchema.loadCardSessions, "read card sessions")
        defer { s.reset() }
        return try Self.sessionRows(s)
    }

    static func sessionRows(_ s: SQLiteStatement) throws(StoreError) -> [CardSessionRow] {
        var rows: [CardSessionRow] = []
        while try s.step() {
            rows.append(CardSessionRow(reader: s.text(0), device: s.text(1), card: s.text(2), point: s.text(3),
                                       startReading: s.isNull(4) ? nil : s.text(4), startMs: s.int64(5)))
        }
        return rows
    }
}
