import MeterCore

/// The outbox's tables, and how an existing file is recognised as ours and of a version we read.
///
/// One table per priority class rather than one table with a class column: eviction deletes the
/// oldest rows of one class, and in a table of its own those rows sit together at the left edge of
/// the b-tree, so whole pages go back to the free list and the page count (what the byte budget
/// measures) falls as soon as rows are evicted. Interleaved with other classes they would leave
/// half-empty pages behind. `outbox` is a view over the three for people with the `sqlite3` shell.
///
/// A reading is stored compactly (about 24 bytes on disk instead of its 170-byte JSON): its device,
/// point, unit, billing flag and value encoding are a row of `series`, written once; its row holds
/// the series id, the timestamp in `created_ms`, the value in SQLite's own types and a quality
/// code (see `ReadingRows`), with `payload` empty. Events, command results, and readings stored as
/// JSON by agents before version 5, keep their JSON in `payload` and NULL in `series`.
enum OutboxSchema {
    /// Written in the header (`PRAGMA application_id`): ASCII "MTRO".
    static let applicationID: Int64 = 0x4D54_524F
    /// `PRAGMA user_version`; a file with a larger one comes from a newer agent. Version 2 added
    /// the command log, version 3 the prepaid accounts, version 4 the card authorization list and
    /// open card sessions, version 5 compact reading rows; older files get what they lack on open
    /// (`upgradeFrom1` … `upgradeFrom4`).
    static let version: Int64 = 5

    /// The first version with compact reading rows (`series` and its columns in the outbox tables).
    static let compactReadingsVersion: Int64 = 5

    static func table(_ priority: UInt8) -> String { "outbox_\(priority)" }

    static let create = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE outbox_0(\(outboxColumns));
        CREATE TABLE outbox_1(\(outboxColumns));
        CREATE TABLE outbox_2(\(outboxColumns));
        \(seriesTable)
        \(commandLog)
        \(prepaidAccounts)
        \(cardTables)
        \(view)
        INSERT INTO meta(key, value) VALUES ('next_seq', 1), ('dropped_0', 0), ('dropped_1', 0), ('dropped_2', 0), ('max_bytes', 0);
        PRAGMA application_id = \(applicationID);
        PRAGMA user_version = \(version);
        """

    /// `payload` stays NOT NULL as in version 4 (whose tables get the other three columns by
    /// `ALTER TABLE … ADD COLUMN`, which cannot change it): a reading row holds '' there, which
    /// takes the same one header byte as NULL. `value` has no type, so SQLite keeps integers as
    /// integers and doubles as doubles.
    static let outboxColumns = "seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL, "
        + "series INTEGER, value, quality INTEGER"

    /// Each combination of what a reading's JSON repeats from poll to poll, once. `value_type` and
    /// `exponent` say how the row's value reads back (`ReadingRows.ValueType`; an exact decimal is
    /// its significand, the exponent is here). Rows are never deleted: there are as many as the
    /// site has points (times the encodings their values had).
    static let seriesTable = """
        CREATE TABLE series(id INTEGER PRIMARY KEY, device TEXT NOT NULL, point TEXT NOT NULL, unit TEXT NOT NULL,
            billing INTEGER NOT NULL, value_type INTEGER NOT NULL, exponent INTEGER NOT NULL,
            UNIQUE(device, point, unit, billing, value_type, exponent));
        """

    /// Every record with its JSON, as the uplink sends it (without `seq`): reading rows are put
    /// back together with `json_object`. Exact decimals keep their digits; a double may print
    /// differently from the agent's shortest form (`1.0e+300`), the value is the same.
    static let view = """
        CREATE VIEW outbox AS
            SELECT o.seq, o.kind, 0 AS class, o.created_ms, \(ReadingRows.payloadSQL) AS payload FROM outbox_0 AS o LEFT JOIN series AS s ON s.id = o.series
            UNION ALL SELECT o.seq, o.kind, 1, o.created_ms, \(ReadingRows.payloadSQL) FROM outbox_1 AS o LEFT JOIN series AS s ON s.id = o.series
            UNION ALL SELECT o.seq, o.kind, 2, o.created_ms, \(ReadingRows.payloadSQL) FROM outbox_2 AS o LEFT JOIN series AS s ON s.id = o.series;
        """

    /// The head-end's command ids, kept until the command expires: an id seen before is never run
    /// again, across restarts. `result` is the result record's payload, NULL while the command is
    /// running (still NULL after a restart means the agent stopped in the middle of it).
    static let commandLog = """
        CREATE TABLE command_log(id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) WITHOUT ROWID;
        """

    static let upgradeFrom1 = commandLog + "\n" + upgradeFrom2
    static let upgradeFrom2 = prepaidAccounts + "\n" + upgradeFrom3
    static let upgradeFrom3 = cardTables + "\n" + upgradeFrom4
    /// Version 4's rows stay as they are (JSON in `payload`, NULL in the new columns) until sent;
    /// adding columns only rewrites the schema, not the rows, so the upgrade takes no time or room.
    static let upgradeFrom4 = seriesTable + "\nDROP VIEW outbox;\n"
        + RecordPriority.classes.map { "ALTER TABLE \(table($0)) ADD COLUMN series INTEGER; ALTER TABLE \(table($0)) ADD COLUMN value; "
            + "ALTER TABLE \(table($0)) ADD COLUMN quality INTEGER;" }.joined(separator: "\n")
        + "\n" + view + "\nPRAGMA user_version = \(version);"

    static let claimCommand = "INSERT INTO command_log(id, expires_at, received_ms) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING"
    static let commandResult = "SELECT result FROM command_log WHERE id = ?1"
    static let completeCommand = "UPDATE command_log SET result = ?2 WHERE id = ?1"
    static let unfinishedCommands = "SELECT id FROM command_log WHERE result IS NULL ORDER BY received_ms"
    static let pruneCommands = "DELETE FROM command_log WHERE expires_at < ?1"

    /// Records in sequence order across the three classes, from `?1` on, at most `?2`. SQLite merges
    /// the three rowid-ordered scans (a compound SELECT with ORDER BY), no sort of the whole store.
    /// Columns: seq, kind, class, created_ms, payload, series, value, quality — the last three NULL
    /// in a file before version 5 (opened read-only, so not upgraded).
    static func inOrderFrom(compact: Bool) -> String {
        let readingColumns = compact ? "series, value, quality" : "NULL, NULL, NULL"
        return RecordPriority.classes.map { priority in
            "SELECT seq, kind, \(priority), created_ms, payload, \(readingColumns) FROM \(table(priority)) WHERE seq >= ?1"
        }.joined(separator: " UNION ALL ") + " ORDER BY seq LIMIT ?2"
    }

    static func insert(_ priority: UInt8) -> String {
        "INSERT INTO \(table(priority))(seq, kind, created_ms, payload) VALUES (?1, ?2, ?3, ?4)"
    }

    /// `rows` readings' rows: row r's parameters are `?(5r+1)` seq, `?(5r+2)` timestamp,
    /// `?(5r+3)` series, `?(5r+4)` value, `?(5r+5)` quality code.
    static func insertReadings(_ priority: UInt8, rows: Int) -> String {
        "INSERT INTO \(table(priority))(seq, kind, created_ms, payload, series, value, quality) VALUES "
            + (0..<rows).map { row in
                let p = row * ReadingRows.parametersPerRow
                return "(?\(p + 1), \(RecordKind.reading.code), ?\(p + 2), '', ?\(p + 3), ?\(p + 4), ?\(p + 5))"
            }.joined(separator: ", ")
    }

    static let loadSeries = "SELECT id, device, point, unit, billing, value_type, exponent FROM series WHERE id > ?1"
    static let insertSeries = "INSERT INTO series(device, point, unit, billing, value_type, exponent) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"

    /// How many of the oldest `?1` rows of a class after seq `?2` there are, and their sequence range.
    static func oldestSpan(_ priority: UInt8) -> String {
        "SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM \(table(priority)) WHERE seq > ?2 ORDER BY seq LIMIT ?1)"
    }

    /// Deletes a class's rows with `?2 < seq <= ?1`.
    static func deleteThrough(_ priority: UInt8) -> String { "DELETE FROM \(table(priority)) WHERE seq <= ?1 AND seq > ?2" }

    /// Count, bytes, oldest and newest seq of a class. Bytes are the JSON text of payload rows and
    /// `ReadingRows.valueBytes` for each compact reading (what its row holds besides SQLite's own
    /// overhead); pre-version-5 files have no `series` column to tell them apart, nor compact rows.
    static func classStats(_ priority: UInt8, compact: Bool) -> String {
        let bytes = compact ? "CASE WHEN series IS NULL THEN length(CAST(payload AS BLOB)) ELSE \(ReadingRows.valueBytes) END"
            : "length(CAST(payload AS BLOB))"
        return "SELECT count(*), coalesce(sum(\(bytes)), 0), min(seq), max(seq) FROM \(table(priority))"
    }

    static let readMeta = "SELECT value FROM meta WHERE key = ?1"
    static let writeMeta = "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
    static let updatePayload = "UPDATE outbox_0 SET payload = ?2 WHERE seq = ?1"
}
