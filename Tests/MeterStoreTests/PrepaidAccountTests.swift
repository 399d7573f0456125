import MeterTestSupport
import CSQLite
import MeterCore
import Testing
@testable import MeterStore

/// The prepaid accounts of local cost control: saved whole with their events in one transaction,
/// committed with a command's result, kept across reopening, upgrades and recovery.
@Suite(.timeLimit(.minutes(1)))
struct PrepaidAccountTests {
    static let row = PrepaidAccountRow(device: "flat-1", balance: "49.2625", reading: "1234.567", readingMs: 1_000,
                                       disconnected: false, lowCredit: false, exhausted: false,
                                       tariff: "{\"flat\":0.59}", eventBalance: "50", eventMs: 500, updatedMs: 1_000)

    static func event(_ text: String) -> OutboxRecord {
        OutboxRecord(kind: .event, priority: RecordPriority.critical, createdMs: 1, payload: "{\"type\":\"\(text)\"}")
    }

    @Test func anAccountAndItsEventsAreSavedTogetherAndReadBackAfterReopening() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        #expect(try await store.prepaidAccounts().isEmpty)
        let seqs = try await store.savePrepaid([Self.row], events: [Self.event("credit.balance"), Self.event("alarm.raised")])
        #expect(seqs == [1, 2])
        var changed = Self.row
        changed.balance = "-0.0125"
        changed.disconnected = true
        changed.lowCredit = true
        changed.reading = nil
        changed.readingMs = nil
        changed.tariff = nil
        changed.eventBalance = nil
        changed.eventMs = nil
        let other = PrepaidAccountRow(device: "gas-1", balance: "3", updatedMs: 2)
        #expect(try await store.savePrepaid([changed, other], events: []).isEmpty)
        await store.shutdown()

        store = try OutboxStore(path: path)
        #expect(try await store.prepaidAccounts() == [changed, other], "a save replaces the whole row, NULLs included")
        #expect(try await store.everything().map(\.kind) == [.event, .event])
        await store.shutdown()
    }

    @Test func aCommandsResultTheAccountAndItsEventsCommitInOneTransaction() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        #expect(try await store.claimCommand(id: "credit-1", expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
        let result = OutboxRecord(kind: .commandResult, priority: 0, createdMs: 2, payload: "{\"id\":\"credit-1\",\"status\":\"done\"}")
        let seq = try await store.completeCommand(id: "credit-1", result: result, account: Self.row, events: [Self.event("credit.balance")])
        #expect(try await store.prepaidAccounts() == [Self.row])
        #expect(try await store.everything().map(\.seq) == [seq, seq + 1])
        #expect(try await store.claimCommand(id: "credit-1", expiresAt: 2_000_000_000, receivedMs: 3)
                == .seen(result: "{\"id\":\"credit-1\",\"status\":\"done\"}"))

        // A transaction that fails leaves nothing: not the result, not the account.
        _ = try await store.claimCommand(id: "credit-2", expiresAt: 2_000_000_000, receivedMs: 4)
        var richer = Self.row
        richer.balance = "59.2625"
        try await store.setPageLimit(1)
        await #expect(throws: StoreError.self) {
            _ = try await store.completeCommand(id: "credit-2", result: result, account: richer,
                                                events: [Self.event(String(repeating: "x", count: 20_000))])
        }
        try await store.setPageLimit(1_000_000)
        #expect(try await store.prepaidAccounts() == [Self.row])
        #expect(try await store.unfinishedCommands() == ["credit-2"])
        await store.shutdown()
    }

    @Test(arguments: [1, 2])
    func anOlderStoreKeepsItsRecordsAndGetsTheAccountsTable(version: Int) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        let seqs = try await store.append([Self.event("kept")])
        _ = try await store.claimCommand(id: "old", expiresAt: 2_000_000_000, receivedMs: 1)
        await store.shutdown()
        // Back to what an agent of that version wrote.
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        let downgrade = version == 1 ? "DROP TABLE prepaid_account; DROP TABLE command_log;" : "DROP TABLE prepaid_account;"
        #expect(sqlite3_exec(db, downgradeToVersion4 + downgrade + " PRAGMA user_version = \(version);", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)

        store = try OutboxStore(path: path)
        #expect(try await store.everything().map(\.seq) == seqs)
        #expect(try await store.prepaidAccounts().isEmpty)
        try await store.savePrepaid([Self.row], events: [])
        #expect(try await store.prepaidAccounts() == [Self.row])
        #expect(try await store.claimCommand(id: "old", expiresAt: 2_000_000_000, receivedMs: 2) == (version == 1 ? CommandClaim.fresh : .seen(result: nil)))
        await store.shutdown()

        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        var statement: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nil) == SQLITE_OK)
        #expect(sqlite3_step(statement) == SQLITE_ROW)
        #expect(sqlite3_column_int64(statement, 0) == OutboxSchema.version)
        sqlite3_finalize(statement)
        sqlite3_close(db)
    }

    @Test func aStoreMovedAsideKeepsItsBalances() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        try await store.savePrepaid([Self.row], events: [])
        await store.shutdown()
        markAsNewerSchema(path)

        let log = LogLines()
        store = try OutboxStore(path: path, log: log.logger)
        #expect(dir.files.contains { $0.hasPrefix("outbox.db.corrupt-") })
        #expect(try await store.prepaidAccounts() == [Self.row], "money is not reset to the initial balance by a recovery")
        #expect(log.all.contains { $0.contains("1 prepaid accounts salvaged") })
        await store.shutdown()
    }
}
