import MeterCore

/// How an `authlist.update` met the stored list.
public enum AuthorizationUpdateOutcome: Sendable, Hashable {
    /// Applied: the list as stored now.
    case applied(AuthorizationList)
    /// Its version is not newer than the stored one.
    case stale(stored: Int64)
    /// A delta against another version than the stored one.
    case wrongBase(stored: Int64)
}

extension OutboxSchema {
    /// The authorization list (one row per card; its version is `meta.authlist_version`) and the
    /// customer sessions open at the moment (one per reader), so that a session outlives a restart
    /// and is ended properly after it. `IF NOT EXISTS`: an upgrade may meet tables a downgraded
    /// file still has.
    static let cardTables = """
        CREATE TABLE IF NOT EXISTS auth_card(technology TEXT NOT NULL, id TEXT NOT NULL, role TEXT NOT NULL, expires_at INTEGER,
            supply_points TEXT NOT NULL, PRIMARY KEY(technology, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS card_session(reader TEXT PRIMARY KEY, device TEXT NOT NULL, card TEXT NOT NULL, point TEXT NOT NULL,
            start_reading TEXT, start_ms INTEGER NOT NULL) WITHOUT ROWID;
        """

    static let authListVersionKey = "authlist_version"
    static let loadAuthCards = "SELECT technology, id, role, expires_at, supply_points FROM auth_card"
    static let clearAuthCards = "DELETE FROM auth_card"
    static let deleteAuthCard = "DELETE FROM auth_card WHERE technology = ?1 AND id = ?2"
    static let saveAuthCard = "INSERT OR REPLACE INTO auth_card(technology, id, role, expires_at, supply_points) VALUES (?1, ?2, ?3, ?4, ?5)"
}

extension OutboxStore {
    /// The stored list (version 0 and no cards when none was ever received). Rows the agent cannot
    /// read (written by a newer one) are left out.
    public func authorizationList() async throws(StoreError) -> AuthorizationList {
        try await submit("read authorization list") { engine throws(StoreError) in try engine.authorizationList() }
    }

    /// `completeCommand` for `authlist.update`: the version check, the list, the command log's
    /// result and the result record in one transaction, so the list changes exactly when its
    /// result is stored. `result` makes the result record from the outcome.
    public func completeAuthorizationUpdate(id: String, change: AuthorizationChange,
                                            result: @escaping @Sendable (AuthorizationUpdateOutcome) -> OutboxRecord)
        async throws(StoreError) -> AuthorizationUpdateOutcome {
        try await submit("authorization list update") { engine throws(StoreError) in
            try engine.transaction("authorization list update") { () throws(StoreError) -> AuthorizationUpdateOutcome in
                let stored = try engine.metaValue(OutboxSchema.authListVersionKey) ?? 0
                let outcome: AuthorizationUpdateOutcome
                if change.version <= stored {
                    outcome = .stale(stored: stored)
                } else if case let .delta(_, base, _, _) = change, base != stored {
                    outcome = .wrongBase(stored: stored)
                } else {
                    try engine.apply(change)
                    outcome = .applied(try engine.authorizationList())
                }
                _ = try engine.completeCommandInTransaction(id: id, record: result(outcome))
                return outcome
            }
        }
    }
}

extension OutboxEngine {
    func metaValue(_ key: String) throws(StoreError) -> Int64? {
        let s = try statement(OutboxSchema.readMeta, "read meta")
        defer { s.reset() }
        try s.bind(key, at: 1)
        return try s.step() ? s.int64(0) : nil
    }

    func authorizationList() throws(StoreError) -> AuthorizationList {
        let version = try metaValue(OutboxSchema.authListVersionKey) ?? 0
        let s = try statement(OutboxSchema.loadAuthCards, "read authorization list")
        defer { s.reset() }
        return AuthorizationList(version: version, entries: try Self.authRows(s))
    }

    /// The list and the open sessions of a store being moved aside as corrupt, as far as they can
    /// be read: without them every card would be unknown until the head-end resends the list, and
    /// a supply point left switched on by a session would have no session to end it.
    static func salvageCards(_ path: String) -> (list: AuthorizationList?, sessions: [CardSessionRow]) {
        guard let db = try? SQLiteConnection(path: path, readOnly: true) else { return (nil, []) }
        var list: AuthorizationList?
        if let version = try? db.integer("SELECT value FROM meta WHERE key = '\(OutboxSchema.authListVersionKey)'", "salvage"),
           let statement = try? db.prepare(OutboxSchema.loadAuthCards, "salvage"), let entries = try? authRows(statement) {
            list = AuthorizationList(version: version, entries: entries)
        }
        let sessions = (try? db.prepare(OutboxSchema.loadCardSessions, "salvage")).flatMap { try? sessionRows($0) } ?? []
        return (list, sessions)
    }

    private static func authRows(_ s: SQLiteStatement) throws(StoreError) -> [AuthorizedCard] {
        var entries: [AuthorizedCard] = []
        while try s.step() {
            guard case let .success(card) = CardID.parse(s.text(0) + ":" + s.text(1)), let role = CardRole(rawValue: s.text(2)) else { continue }
            let points = s.text(4).split(separator: ",").map { DeviceID(String($0)) }
            entries.append(AuthorizedCard(card: card, role: role,
                                          expiresAt: s.isNull(3) ? nil : s.int64(3), supplyPoints: points))
        }
        return entries
    }

    /// Writes a change whose version was checked (inside the caller's transaction).
    func apply(_ change: AuthorizationChange) throws(StoreError) {
        switch change {
        case let .replace(_, cards):
            try statement(OutboxSchema.clearAuthCards, "replace authorization list").run()
            for entry in cards { try saveAuthCard(entry) }
        case let .delta(_, _, add, remove):
            for card in remove {
                let s = try statement(OutboxSchema.deleteAuthCard, "remove card")
                try s.bind(card.technology.rawValue, at: 1)
                try s.bind(card.hex, at: 2)
                try s.run()
            }
            for entry in add { try saveAuthCard(entry) }
        }
        let s = try statement(OutboxSchema.writeMeta, "write authorization list version")
        try s.bind(OutboxSchema.authListVersionKey, at: 1)
        try s.bind(change.version, at: 2)
        try s.run()
    }

    private func saveAuthCard(_ entry: AuthorizedCard) throws(StoreError) {
        let s = try statement(OutboxSchema.saveAuthCard, "save card")
        try s.bind(entry.card.technology.rawValue, at: 1)
        try s.bind(entry.card.hex, at: 2)
        try s.bind(entry.role.rawValue, at: 3)
        if let expiresAt = entry.expiresAt { try s.bind(expiresAt, at: 4) }
        try s.bind(entry.supplyPoints.map(\.rawValue).joined(separator: ","), at: 5)
        try s.run()
    }
}
