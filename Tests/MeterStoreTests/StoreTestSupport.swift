import Synchronization
import Foundation
import MeterCore
@testable import MeterStore
import MeterTestSupport
import CSQLite
import Testing

/// Collects the store's log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var logger: Log { Log(minimum: .debug) { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A reading-like payload of roughly the size the agent writes.
func reading(_ i: Int, priority: UInt8) -> OutboxRecord {
    let point = priority == 1 ? "energy.import.total" : "voltage.l1"
    let payload = "{\"device\":\"flat-\(i % 40)\",\"point\":\"\(point)\",\"value\":\(230 + i % 10).5,\"unit\":\"V\",\"ts\":\(1_764_052_800_000 + i),\"quality\":\"good\",\"billing\":\(priority == 1)}"
    return OutboxRecord(kind: .reading, priority: priority, createdMs: 1_764_052_800_000 + Int64(i), payload: payload)
}


/// Marks the store at `path` as written by a newer agent (a schema version this one does not know).
func markAsNewerSchema(_ path: String) {
    var db: OpaquePointer?
    #expect(sqlite3_open(path, &db) == SQLITE_OK)
    #expect(sqlite3_exec(db, "PRAGMA user_version = 99", nil, nil, nil) == SQLITE_OK)
    sqlite3_close(db)
}

/// Takes a store back to what version 4 wrote (no compact readings), for the tests that go further
/// back from there. A version 4 file made by version 4's own SQL is in `CompactReadingTests`.
let downgradeToVersion4 = "DROP VIEW outbox; DROP TABLE series; "
    + RecordPriority.classes.map { "ALTER TABLE outbox_\($0) DROP COLUMN series; ALTER TABLE outbox_\($0) DROP COLUMN value; "
        + "ALTER TABLE outbox_\($0) DROP COLUMN quality; " }.joined()
    + """
    CREATE VIEW outbox AS SELECT seq, kind, 0 AS class, created_ms, payload FROM outbox_0
        UNION ALL SELECT seq, kind, 1, created_ms, payload FROM outbox_1 UNION ALL SELECT seq, kind, 2, created_ms, payload FROM outbox_2;
    """
