import MeterTestSupport
import CSQLite
import Foundation
import MeterCore
import MeterProtocols
import Testing
@testable import MeterStore

/// Readings stored as compact rows (schema version 5): the JSON read out is the JSON the agent
/// stored before, for every kind of value and quality; version 4 files keep their rows.
@Suite(.timeLimit(.minutes(1)))
struct CompactReadingTests {
    static func reading(_ value: MeterValue?, device: String = "flat-301", point: String = "energy.import.total",
                        unit: String = "kWh", quality: Quality = .good, billing: Bool = true, ts: Int64 = 1_764_052_800_123) -> Reading {
        Reading(device: DeviceID(device), point: PointName(point), value: value, unit: unit, timestampMs: ts, quality: quality, billing: billing)
    }

    static func decimal(_ significand: Int64, _ exponent: Int) -> MeterValue {
        .decimal(ExactDecimal(significand: significand, exponent: exponent))
    }

    /// Every MeterValue and Quality the agent writes, with the number formats that could go wrong.
    static let variants: [Reading] = [
        reading(decimal(1_234_567, -2)),
        reading(decimal(12_345_670, -3)),
        reading(decimal(-5, -2), billing: false),
        reading(decimal(0, -2)),
        reading(decimal(-123_456, -4)),
        reading(decimal(12, 2), unit: "Wh"),
        reading(decimal(0, 3)),
        reading(decimal(-7, 0)),
        reading(decimal(.max, -18)),
        reading(decimal(.min, -1)),
        reading(decimal(42, 0), ts: 0),
        reading(decimal(1, -2), ts: -1_000),
        reading(.real(230.5), device: "flat-302", point: "voltage.l1", unit: "V", billing: false),
        reading(.real(-0.0), device: "flat-302", point: "voltage.l1", unit: "V", billing: false),
        reading(.real(2.0), device: "flat-302", point: "voltage.l1", unit: "V", billing: false),
        reading(.real(1e300), device: "flat-302", point: "power.total", unit: "W", billing: false),
        reading(.real(5e-324), device: "flat-302", point: "power.total", unit: "W", billing: false),
        reading(.real(-.pi), device: "flat-302", point: "power.total", unit: "W", billing: false),
        reading(.real(.nan), device: "flat-302", point: "power.total", unit: "W", quality: .invalidValue, billing: false),
        reading(.real(.infinity), device: "flat-302", point: "power.total", unit: "W", billing: false),
        reading(.real(-.infinity), device: "flat-302", point: "power.total", unit: "W", billing: false),
        reading(.bool(true), device: "relay-1", point: "relay.state", unit: "", billing: false),
        reading(.bool(false), device: "relay-1", point: "relay.state", unit: "", billing: false),
        reading(nil, quality: .timeout),
        reading(nil, quality: .crcError),
        reading(nil, quality: .exception(2)),
        reading(nil, quality: .exception(0)),
        reading(nil, quality: .exception(255)),
        reading(nil, quality: .invalidValue),
        reading(nil, quality: .busError),
        reading(nil, quality: .backoff),
        reading(nil, quality: .meterError(4), billing: false),
        reading(nil, quality: .meterError(0)),
        reading(nil, quality: .meterError(255)),
        reading(decimal(12_345, -3), device: "wtr-\"7\"\\b", point: "volume.total", unit: "m³", quality: .good, billing: true),
        reading(.bool(true), device: "ctl\n\t\u{1}", point: "ünïcode.pöint", unit: "°C"),
    ]

    @Test func everyValueAndQualityReadsBackAsTheJSONStoredBefore() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        // The same readings twice: compact rows, then JSON rows as agents before version 5 wrote them.
        let compact = Self.variants.map { OutboxRecord(reading: $0) }
        let asJSON = Self.variants.map { OutboxRecord(reading: $0, json: $0.json) }
        let seqs = try await store.append(compact + asJSON)
        #expect(seqs == Array(1...UInt64(2 * Self.variants.count)))

        func check(_ records: [StoredRecord]) {
            #expect(records.count == 2 * Self.variants.count)
            for (index, record) in records.enumerated() {
                let expected = Self.variants[index % Self.variants.count]
                #expect(record.payload == expected.json, "seq \(record.seq)")
                #expect(record.kind == .reading)
                #expect(record.priority == (expected.billing ? RecordPriority.billing : RecordPriority.instantaneous))
                #expect(record.createdMs == expected.timestampMs)
            }
            #expect(records.prefix(Self.variants.count).map(\.payload) == records.suffix(Self.variants.count).map(\.payload))
            #expect(records[0].jsonWithSeq == "{\"seq\":1,\"device\":\"flat-301\",\"point\":\"energy.import.total\",\"value\":12345.67,"
                + "\"unit\":\"kWh\",\"ts\":1764052800123,\"quality\":\"good\",\"billing\":true}")
        }
        check(try await store.oldest(limit: 1_000, maxBytes: .max))
        // A reader next to the writer, and the writer after a restart, rebuild the names from the file.
        let reader = try OutboxStore(path: path, options: .readOnly)
        check(try await reader.everything())
        await reader.shutdown()
        await store.shutdown()
        store = try OutboxStore(path: path)
        check(try await store.everything())
        // New readings of known series reuse them.
        _ = try await store.append([OutboxRecord(reading: Self.variants[0])])
        #expect(try await store.everything().last?.payload == Self.variants[0].json)
        await store.shutdown()
        #expect(try rows(path, "SELECT count(*) FROM series") == [String(Set(Self.variants.map(ReadingSeries.init)).count)])
    }

    @Test func runsOfReadingsOfEveryLengthKeepTheirOrderAndNumbers() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        // Runs of one class around the rows-per-statement mark, broken by the other class and by events.
        var records: [OutboxRecord] = []
        var n = 0
        for (length, billing) in [(ReadingRows.rowsPerInsert, true), (1, false), (ReadingRows.rowsPerInsert * 2 + 3, false),
                                  (ReadingRows.rowsPerInsert - 1, true), (0, true), (ReadingRows.rowsPerInsert + 1, true)] {
            for _ in 0..<length {
                n += 1
                records.append(OutboxRecord(reading: Self.reading(Self.decimal(Int64(n), -1), device: "m-\(n % 7)", billing: billing, ts: Int64(n))))
            }
            records.append(.event(json: "{\"type\":\"mark\",\"n\":\(n)}", ts: Int64(n)))
        }
        let seqs = try await store.append(records)
        #expect(seqs == Array(1...UInt64(records.count)))
        let stored = try await store.everything()
        #expect(stored.map(\.seq) == seqs)
        #expect(stored.map(\.payload) == records.map(\.payload))
        #expect(stored.map(\.priority) == records.map(\.priority))
        await store.shutdown()
    }

    @Test func theOutboxViewShowsReadingsAsTheirJSON() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let store = try OutboxStore(path: path)
        // Doubles print in SQLite's own form in the view (1.0e+300); the others exactly as sent,
        // except the one exact decimal whose significand has no absolute value in SQLite (Int64.min).
        let shown = Self.variants.filter { reading in
            switch reading.value {
            case let .real(r)?: r == 230.5 || !r.isFinite
            case let .decimal(d)?: d.significand != .min
            default: true
            }
        }
        let event = OutboxRecord.event(json: "{\"type\":\"alarm.leak\",\"ts\":5}", ts: 5)
        _ = try await store.append(shown.map { OutboxRecord(reading: $0) } + [event])
        await store.shutdown()
        let payloads = try rows(path, "SELECT payload FROM outbox ORDER BY seq")
        #expect(payloads == shown.map(\.json) + [event.payload])
        #expect(try rows(path, "SELECT class FROM outbox ORDER BY seq") == shown.map { $0.billing ? "1" : "2" } + ["0"])
    }

    @Test func aVersion4FileKeepsItsRowsAndTakesCompactReadings() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let old = [Self.variants[0], Self.variants[12], Self.variants[25]]
        let leak = "{\"type\":\"alarm.leak\",\"ts\":9}"
        try execute(path, Self.version4Schema + """
            INSERT INTO outbox_1(seq, kind, created_ms, payload) VALUES (3, 0, \(old[0].timestampMs), '\(old[0].json)');
            INSERT INTO outbox_2(seq, kind, created_ms, payload) VALUES (5, 0, \(old[1].timestampMs), '\(old[1].json)');
            INSERT INTO outbox_1(seq, kind, created_ms, payload) VALUES (6, 0, \(old[2].timestampMs), '\(old[2].json)');
            INSERT INTO outbox_0(seq, kind, created_ms, payload) VALUES (7, 1, 9, '\(leak)');
            UPDATE meta SET value = 8 WHERE key = 'next_seq';
            """)
        let expected = old.map(\.json) + [leak]

        // `meteragent buffer` before the new agent has run: reads the file as it is.
        let reader = try OutboxStore(path: path, options: .readOnly)
        #expect(try await reader.everything().map(\.payload) == expected)
        #expect(try await reader.stats().perClass.map(\.records) == [1, 2, 1])
        await reader.shutdown()
        #expect(try rows(path, "PRAGMA user_version") == ["4"])

        let store = try OutboxStore(path: path)
        #expect(try await store.everything().map(\.seq) == [3, 5, 6, 7])
        #expect(try await store.everything().map(\.payload) == expected)
        let new = try await store.append([OutboxRecord(reading: Self.variants[1]), OutboxRecord(reading: Self.variants[22])])
        #expect(new == [8, 9])
        let all = try await store.oldest(limit: 100, maxBytes: .max)
        #expect(all.map(\.payload) == expected + [Self.variants[1].json, Self.variants[22].json])
        #expect(all.map(\.priority) == [1, 2, 1, 0, 1, 2])
        let stats = try await store.stats()
        #expect(stats.perClass[1].bytes == Int64(old[0].json.utf8.count + old[2].json.utf8.count + ReadingRows.valueBytes))
        try await store.delete([3, 5, 8])
        #expect(try await store.everything().map(\.seq) == [6, 7, 9])
        await store.shutdown()
        #expect(try rows(path, "PRAGMA user_version") == [String(OutboxSchema.version)])
        #expect(try rows(path, "SELECT payload FROM outbox ORDER BY seq") == [old[2].json, leak, Self.variants[22].json])
    }

    @Test func aReadingTakesAFewDozenBytesOnDisk() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), options: StoreOptions(sync: .normal))
        let devices = (0..<50).map { DeviceID("flat-\(100 + $0)-elec") }
        for batch in 0..<20 {
            _ = try await store.append((0..<1_000).map { n in
                let i = batch * 1_000 + n
                return OutboxRecord(reading: Reading(device: devices[i % 50], point: PointName("energy.import.total"),
                                                     value: Self.decimal(Int64(10_000 + i / 50) * 100 + Int64(i % 100), -2), unit: "kWh",
                                                     timestampMs: 1_764_052_800_000 + Int64(i) * 1000, quality: .good, billing: true))
            })
        }
        // Pages in use, headers and interior pages included (the JSON rows took ~160 bytes).
        let perReading = Double(try await store.usedBytes()) / 20_000
        #expect(perReading < 28, "\(perReading) bytes per reading")
        await store.shutdown()
    }

    @Test func aRolledBackAppendForgetsTheSeriesItAdded() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        _ = try await store.append([OutboxRecord(reading: Self.variants[0])])
        try await store.setPageLimit(1)
        let fresh = (0..<200).map { OutboxRecord(reading: Self.reading(.real(Double($0)), device: "new-\($0)", point: "voltage.l1", unit: "V")) }
        await #expect(throws: StoreError.self) { _ = try await store.append(fresh) }
        try await store.setPageLimit(1_000_000)
        // Ids the rolled-back series had are given again; the cache must not point at the old names.
        let other = (0..<200).map { OutboxRecord(reading: Self.reading(.real(Double($0)), device: "other-\($0)", point: "current.l1", unit: "A")) }
        _ = try await store.append(other)
        #expect(try await store.everything().map(\.payload) == [Self.variants[0].json] + other.map(\.payload))
        await store.shutdown()
    }

    @Test func evictionKeepsCompactReadingsWithinTheBudget() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let budget: Int64 = 256 << 10
        let store = try OutboxStore(path: path, maxBytes: budget)
        var stored = 0
        for batch in 0..<60 {
            let records = (0..<500).map { n in
                OutboxRecord(reading: Self.reading(Self.decimal(Int64(batch * 500 + n), -1), device: "m-\(n % 20)",
                                                   point: n % 5 == 0 ? "energy.import.total" : "voltage.l1", billing: n % 5 == 0,
                                                   ts: Int64(batch * 500 + n)))
            }
            stored += try await store.append(records).count
            let stats = try await store.stats()
            #expect(stats.totalBytes <= budget, "batch \(batch): \(stats.totalBytes) bytes on disk")
        }
        let stats = try await store.stats()
        let present = try await store.everything()
        let readings = present.filter { $0.kind == .reading }.count
        #expect(stats.droppedPerClass[2] > 0 && stats.droppedPerClass[0] == 0)
        #expect(UInt64(readings) + stats.dropped == UInt64(stored))
        // About 35 of the budget's pages are left for rows (the rest: the WAL's share, the schema's
        // tables): ~800 JSON readings, several thousand compact ones.
        #expect(readings > 3_000, "\(readings) readings kept")
        await store.shutdown()
    }

    // MARK: - Helpers

    /// The schema as agents of version 4 created it.
    static let version4Schema = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE outbox_0(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE outbox_1(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE outbox_2(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, created_ms INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE command_log(id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS prepaid_account(device TEXT PRIMARY KEY, balance TEXT NOT NULL, reading TEXT, reading_ms INTEGER,
            disconnected INTEGER NOT NULL, low_credit INTEGER NOT NULL, exhausted INTEGER NOT NULL, tariff TEXT,
            event_balance TEXT, event_ms INTEGER, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS auth_card(technology TEXT NOT NULL, id TEXT NOT NULL, role TEXT NOT NULL, expires_at INTEGER,
            supply_points TEXT NOT NULL, PRIMARY KEY(technology, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS card_session(reader TEXT PRIMARY KEY, device TEXT NOT NULL, card TEXT NOT NULL, point TEXT NOT NULL,
            start_reading TEXT, start_ms INTEGER NOT NULL) WITHOUT ROWID;
        CREATE VIEW outbox AS
            SELECT seq, kind, 0 AS class, created_ms, payload FROM outbox_0
            UNION ALL SELECT seq, kind, 1, created_ms, payload FROM outbox_1
            UNION ALL SELECT seq, kind, 2, created_ms, payload FROM outbox_2;
        INSERT INTO meta(key, value) VALUES ('next_seq', 1), ('dropped_0', 0), ('dropped_1', 0), ('dropped_2', 0), ('max_bytes', 0);
        PRAGMA application_id = 1297371727;
        PRAGMA user_version = 4;

        """
}

/// Runs SQL on the file with a connection of the test's own (WAL, as the store leaves it).
func execute(_ path: String, _ sql: String) throws {
    var db: OpaquePointer?
    defer { sqlite3_close(db) }
    guard sqlite3_open(path, &db) == SQLITE_OK, sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
        throw SQLTestError(message: String(cString: sqlite3_errmsg(db)))
    }
}

/// The first column of every row of `sql`, as text.
func rows(_ path: String, _ sql: String) throws -> [String] {
    var db: OpaquePointer?
    var statement: OpaquePointer?
    defer {
        sqlite3_finalize(statement)
        sqlite3_close(db)
    }
    guard sqlite3_open(path, &db) == SQLITE_OK, sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
        throw SQLTestError(message: String(cString: sqlite3_errmsg(db)))
    }
    var result: [String] = []
    while sqlite3_step(statement) == SQLITE_ROW {
        result.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "NULL")
    }
    return result
}

struct SQLTestError: Error {
    var message: String
}
