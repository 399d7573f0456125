import MeterTestSupport
import CSQLite
import MeterCore
import Testing
@testable import MeterStore

/// Replay protection: an id is claimed once, its result is stored with the result record in one
/// transaction, and both survive reopening the store.
@Suite(.timeLimit(.minutes(1)))
struct CommandLogTests {
    func result(_ id: String) -> OutboxRecord {
        OutboxRecord(kind: .commandResult, priority: 0, createdMs: 5, payload: "{\"id\":\"\(id)\",\"status\":\"done\"}")
    }

    @Test func anIdIsClaimedOnceAndItsResultComesBackAfterReopening() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        #expect(try await store.claimCommand(id: "c-1", expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
        #expect(try await store.claimCommand(id: "c-1", expiresAt: 2_000_000_000, receivedMs: 2) == .seen(result: nil))
        let seq = try await store.completeCommand(id: "c-1", result: result("c-1"))
        let stored = try await store.oldest(limit: 10, maxBytes: 1 << 20)
        #expect(stored.map(\.seq) == [seq])
        #expect(stored.first?.kind == .commandResult)
        await store.shutdown()

        store = try OutboxStore(path: path)
        #expect(try await store.claimCommand(id: "c-1", expiresAt: 2_000_000_000, receivedMs: 3)
                == .seen(result: "{\"id\":\"c-1\",\"status\":\"done\"}"))
        #expect(try await store.unfinishedCommands().isEmpty)
        await store.shutdown()
    }

    @Test func aCommandClaimedButNeverCompletedIsUnfinishedAfterARestart() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        _ = try await store.claimCommand(id: "a", expiresAt: 2_000_000_000, receivedMs: 10)
        _ = try await store.claimCommand(id: "b", expiresAt: 2_000_000_000, receivedMs: 20)
        _ = try await store.completeCommand(id: "a", result: result("a"))
        await store.shutdown()
        store = try OutboxStore(path: path)
        #expect(try await store.unfinishedCommands() == ["b"])
        await store.shutdown()
    }

    @Test func expiredIdsArePruned() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        _ = try await store.claimCommand(id: "old", expiresAt: 100, receivedMs: 1)
        _ = try await store.claimCommand(id: "new", expiresAt: 300, receivedMs: 1)
        #expect(try await store.pruneCommands(expiredBefore: 200) == 1)
        #expect(try await store.claimCommand(id: "old", expiresAt: 100, receivedMs: 2) == .fresh)
        #expect(try await store.claimCommand(id: "new", expiresAt: 300, receivedMs: 2) == .seen(result: nil))
        await store.shutdown()
    }

    @Test func aVersion1StoreKeepsItsRecordsAndGetsTheCommandLog() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        let seqs = try await store.append([result("r")])
        await store.shutdown()
        // Back to what an agent before the command log wrote.
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        #expect(sqlite3_exec(db, downgradeToVersion4 + "DROP TABLE command_log; PRAGMA user_version = 1;", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)

        store = try OutboxStore(path: path)
        #expect(try await store.oldest(limit: 10, maxBytes: 1 << 20).map(\.seq) == seqs)
        #expect(try await store.claimCommand(id: "x", expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
        await store.shutdown()
    }
}
