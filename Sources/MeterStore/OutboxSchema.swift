/// The outbox's tables, and how an existing file is recognised as ours and of a version we read.
///
/// One table per priority class rather than one table with a class column: eviction deletes the
/// oldest rows of one class, and in a table of its own those rows sit together at the left edge of
/// the b-tree, so whole pages go back to the free list and the page count (what the byte budget
/// measures) falls as soon as rows are evicted. Interleaved with other classes they would leave
/// half-empty pages behind. `outbox` is a view over the three for people with the `sqlite3` shell.
enum OutboxSchema {
    /// Written in the header (`PRAGMA application_id`): ASCII "MTRO".
    static let applicationID: Int64 = 0x4D54_524F
    /// `PRAGMA user_version`; a file with a larger one comes from a newer agent. Version 2 added
    /// the command log, version 3 the prepaid accounts, version 4 the card authorization list and
    /// open card sessions; older files get what they lack on open (`upgradeFrom1` … `upgradeFrom3`).
    static let version: Int64 = 4

    static func table(_ priority: UInt8) -> String { "outbox_\(priority)" }

    static let create = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE outbox_0(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE outbox_1(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE outbox_2(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        \(commandLog)
        \(prepaidAccounts)
        \(cardTables)
        CREATE VIEW outbox AS
            SELECT seq, kind, 0 AS class, created_ms, payload FROM outbox_0
            UNION ALL SELECT seq, kind, 1, created_ms, payload FROM outbox_1
            UNION ALL SELECT seq, kind, 2, created_ms, payload FROM outbox_2;
        INSERT INTO meta(key, value) VALUES ('next_seq', 1), ('dropped_0', 0), ('dropped_1', 0), ('dropped_2', 0), ('max_bytes', 0);
        PRAGMA application_id = \(applicationID);
        PRAGMA user_version = \(version);
        """

    /// The head-end's command ids, kept until the command expires: an id seen before is never run
    /// again, across restarts. `result` is the result record's payload, NULL while the command is
    /// running (still NULL after a restart means the agent stopped in the middle of it).
    static let commandLog = """
        CREATE TABLE command_log(id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) WITHOUT ROWID;
        """

    static let upgradeFrom1 = commandLog + "\n" + upgradeFrom2
    static let upgradeFrom2 = prepaidAccounts + "\n" + upgradeFrom3
    static let upgradeFrom3 = cardTables + "\nPRAGMA user_version = \(version);"

    static let claimCommand = "INSERT INTO command_log(id, expires_at, received_ms) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING"
    static let commandResult = "SELECT result FROM command_log WHERE id = ?1"
    static let completeCommand = "UPDATE command_log SET result = ?2 WHERE id = ?1"
    static let unfinishedCommands = "SELECT id FROM command_log WHERE result IS NULL ORDER BY received_ms"
    static let pruneCommands = "DELETE FROM command_log WHERE expires_at < ?1"

    /// Records in sequence order across the three classes, from `?1` on, at most `?2`. SQLite merges
    /// the three rowid-ordered scans (a compound SELECT with ORDER BY), no sort of the whole store.
    static let inOrderFrom = """
        SELECT seq, kind, 0, created_ms, payload FROM outbox_0 WHERE seq >= ?1
        UNION ALL SELECT seq, kind, 1, created_ms, payload FROM outbox_1 WHERE seq >= ?1
        UNION ALL SELECT seq, kind, 2, created_ms, payload FROM outbox_2 WHERE seq >= ?1
        ORDER BY seq LIMIT ?2
        """

    static func insert(_ priority: UInt8) -> String {
        "INSERT INTO \(table(priority))(seq, kind, created_ms, payload) VALUES (?1, ?2, ?3, ?4)"
    }

    /// How many of the oldest `?1` rows of a class after seq `?2` there are, and their sequence range.
    static func oldestSpan(_ priority: UInt8) -> String {
        "SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM \(table(priority)) WHERE seq > ?2 ORDER BY seq LIMIT ?1)"
    }

    /// Deletes a class's rows with `?2 < seq <= ?1`.
    static func deleteThrough(_ priority: UInt8) -> String { "DELETE FROM \(table(priority)) WHERE seq <= ?1 AND seq > ?2" }

    static func classStats(_ priority: UInt8) -> String {
        "SELECT count(*), coalesce(sum(length(CAST(payload AS BLOB))), 0), min(seq), max(seq) FROM \(table(priority))"
    }

    static let readMeta = "SELECT value FROM meta WHERE key = ?1"
    static let writeMeta = "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
    static let updatePayload = "UPDATE outbox_0 SET payload = ?2 WHERE seq = ?1"
}
