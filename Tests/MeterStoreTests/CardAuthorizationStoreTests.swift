import MeterTestSupport
import CSQLite
import MeterCore
import Testing
@testable import MeterStore

/// The card authorization list and open card sessions in the store: replace, delta, refused
/// versions, committed with the command's result, kept across reopening and upgrades.
@Suite(.timeLimit(.minutes(1)))
struct CardAuthorizationStoreTests {
    static let tag = CardID(technology: .em4100, bytes: [0x0F, 0x00, 0x27, 0x1D, 0xA5])
    static let uid = CardID(technology: .iso14443a, bytes: [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6])
    static let badge = AuthorizedCard(card: tag, role: .technician, expiresAt: 1_900_000_000)
    static let customer = AuthorizedCard(card: uid, role: .customer, supplyPoints: [DeviceID("bay-1"), DeviceID("bay-2")])

    static func result(_ outcome: AuthorizationUpdateOutcome) -> OutboxRecord {
        let text = switch outcome {
        case let .applied(list): "applied \(list.version)"
        case let .stale(stored): "stale \(stored)"
        case let .wrongBase(stored): "wrong_base \(stored)"
        }
        return OutboxRecord(kind: .commandResult, priority: 0, createdMs: 1, payload: "{\"r\":\"\(text)\"}")
    }

    func update(_ store: OutboxStore, _ id: String, _ change: AuthorizationChange) async throws -> AuthorizationUpdateOutcome {
        #expect(try await store.claimCommand(id: id, expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
        return try await store.completeAuthorizationUpdate(id: id, change: change, result: Self.result)
    }

    @Test func aReplaceThenADeltaThenRefusedVersionsSurviveReopening() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        #expect(try await store.authorizationList() == AuthorizationList())

        let first = try await update(store, "a-1", .replace(version: 3, cards: [Self.badge, Self.customer]))
        #expect(first == .applied(AuthorizationList(version: 3, entries: [Self.badge, Self.customer])))
        var moved = Self.customer
        moved.supplyPoints = [DeviceID("bay-3")]
        moved.expiresAt = 1_800_000_000
        let second = try await update(store, "a-2", .delta(version: 4, base: 3, add: [moved], remove: [Self.tag]))
        #expect(second == .applied(AuthorizationList(version: 4, entries: [moved])))
        #expect(try await update(store, "a-3", .replace(version: 4, cards: [])) == .stale(stored: 4))
        #expect(try await update(store, "a-4", .delta(version: 9, base: 3, add: [Self.badge], remove: [])) == .wrongBase(stored: 4))
        // The result is stored with the outcome, in the command log and the outbox.
        #expect(try await store.claimCommand(id: "a-3", expiresAt: 2_000_000_000, receivedMs: 2) == .seen(result: "{\"r\":\"stale 4\"}"))
        #expect(try await store.everything().map(\.payload) == ["{\"r\":\"applied 3\"}", "{\"r\":\"applied 4\"}", "{\"r\":\"stale 4\"}",
                                                                "{\"r\":\"wrong_base 4\"}"])
        await store.shutdown()

        store = try OutboxStore(path: path)
        #expect(try await store.authorizationList() == AuthorizationList(version: 4, entries: [moved]))
        // A full replace empties what the deltas left.
        #expect(try await update(store, "a-5", .replace(version: 5, cards: [])) == .applied(AuthorizationList(version: 5)))
        #expect(try await store.authorizationList() == AuthorizationList(version: 5))
        await store.shutdown()
    }

    @Test func aFailedTransactionLeavesTheListAndTheCommandAsTheyWere() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        _ = try await update(store, "a-1", .replace(version: 1, cards: [Self.badge]))
        #expect(try await store.claimCommand(id: "a-2", expiresAt: 2_000_000_000, receivedMs: 1) == .fresh)
        try await store.setPageLimit(1)
        await #expect(throws: StoreError.self) {
            _ = try await store.completeAuthorizationUpdate(id: "a-2", change: .replace(version: 2, cards: [Self.customer])) { _ in
                OutboxRecord(kind: .commandResult, priority: 0, createdMs: 1, payload: String(repeating: "x", count: 20_000))
            }
        }
        try await store.setPageLimit(1_000_000)
        #expect(try await store.authorizationList() == AuthorizationList(version: 1, entries: [Self.badge]))
        #expect(try await store.unfinishedCommands() == ["a-2"])
        await store.shutdown()
    }

    @Test func aSessionIsOpenFromItsStartEventToItsEndEvent() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        let row = CardSessionRow(reader: "bay-1-nfc", device: "bay-1", card: Self.uid.description, point: "energy.import.total",
                                 startReading: "100.5", startMs: 1_000)
        let start = OutboxRecord.event(json: "{\"type\":\"card.session.started\"}", ts: 1_000)
        #expect(try await store.saveCardSession(reader: "bay-1-nfc", row, events: [start]) == [1])
        let unread = CardSessionRow(reader: "door", device: "bay-2", card: Self.tag.description, point: "energy.total", startReading: nil, startMs: 2)
        try await store.saveCardSession(reader: "door", unread, events: [])
        await store.shutdown()

        store = try OutboxStore(path: path)
        #expect(try await store.cardSessions() == [row, unread])
        let end = OutboxRecord.event(json: "{\"type\":\"card.session\"}", ts: 2_000)
        try await store.saveCardSession(reader: "bay-1-nfc", nil, events: [end])
        #expect(try await store.cardSessions() == [unread])
        #expect(try await store.everything().map(\.payload) == ["{\"type\":\"card.session.started\"}", "{\"type\":\"card.session\"}"])
        await store.shutdown()
    }

    @Test(arguments: [1, 2, 3])
    func anOlderStoreKeepsItsRecordsAndGetsTheCardTables(version: Int) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        let seqs = try await store.append([OutboxRecord.event(json: "{\"type\":\"kept\"}", ts: 1)])
        await store.shutdown()
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        let downgrade = [downgradeToVersion4, "DROP TABLE auth_card; DROP TABLE card_session;"]
            + (version <= 2 ? ["DROP TABLE prepaid_account;"] : []) + (version == 1 ? ["DROP TABLE command_log;"] : [])
        #expect(sqlite3_exec(db, downgrade.joined(separator: " ") + " PRAGMA user_version = \(version);", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)

        store = try OutboxStore(path: path)
        #expect(try await store.everything().map(\.seq) == seqs)
        #expect(try await store.authorizationList() == AuthorizationList())
        #expect(try await update(store, "a-1", .replace(version: 1, cards: [Self.badge])) == .applied(AuthorizationList(version: 1, entries: [Self.badge])))
        #expect(try await store.cardSessions().isEmpty)
        #expect(try await store.prepaidAccounts().isEmpty)
        await store.shutdown()

        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        var statement: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nil) == SQLITE_OK)
        #expect(sqlite3_step(statement) == SQLITE_ROW)
        #expect(sqlite3_column_int64(statement, 0) == OutboxSchema.version)
        sqlite3_finalize(statement)
        sqlite3_close(db)
    }

    @Test func aStoreMovedAsideKeepsItsListAndOpenSessions() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        _ = try await update(store, "a-1", .replace(version: 7, cards: [Self.badge, Self.customer]))
        let row = CardSessionRow(reader: "bay-1-nfc", device: "bay-1", card: Self.uid.description, point: "energy.import.total",
                                 startReading: "100.5", startMs: 1_000)
        try await store.saveCardSession(reader: "bay-1-nfc", row, events: [])
        await store.shutdown()
        markAsNewerSchema(path)

        let log = LogLines()
        store = try OutboxStore(path: path, log: log.logger)
        #expect(dir.files.contains { $0.hasPrefix("outbox.db.corrupt-") })
        #expect(try await store.authorizationList() == AuthorizationList(version: 7, entries: [Self.badge, Self.customer]))
        #expect(try await store.cardSessions() == [row], "a supply point left on keeps the session that will end it")
        #expect(log.all.contains { $0.contains("card list version 7, 1 card sessions salvaged") }, "\(log.all)")
        await store.shutdown()
    }
}
