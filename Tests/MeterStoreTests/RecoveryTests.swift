import MeterTestSupport
import CSQLite
import Foundation
import MeterCore
import Testing
@testable import MeterStore

/// Damaged files, files from elsewhere, a full disk and a reader next to the writer.
@Suite(.timeLimit(.minutes(1)))
struct RecoveryTests {
    func recoveredEvent(_ store: OutboxStore) async throws -> [String: Any]? {
        try await store.everything().compactMap { jsonObject($0.payload) }.first { $0["type"] as? String == "store.recovered" }
    }

    @Test func aGarbageFileIsMovedAsideAndReported() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let garbage = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let log = LogLines()
        let store = try OutboxStore(path: path, log: log.logger)

        let aside = try #require(dir.files.first { $0.hasPrefix("outbox.db.corrupt-") })
        #expect(try Data(contentsOf: dir.url.appendingPathComponent(aside)) == garbage)
        let event = try #require(try await recoveredEvent(store))
        #expect((event["moved_to"] as? String)?.hasSuffix(aside) == true)
        #expect(event["seq_source"] as? String == "clock")
        #expect(log.all.contains { $0.contains("moved it to") && $0.contains(aside) })
        // The new store works, and its numbers lie above anything the lost one can have used.
        let seqs = try await store.append([reading(1, priority: 2)])
        #expect(seqs[0] > 1_000_000_000_000_000)
        await store.shutdown()
    }

    @Test func aStoreFromANewerAgentIsMovedAsideAndItsCounterKept() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        _ = try await store.append((1...5).map { reading($0, priority: 1) })
        await store.shutdown()
        markAsNewerSchema(path)

        let log = LogLines()
        store = try OutboxStore(path: path, log: log.logger)
        #expect(dir.files.contains { $0.hasPrefix("outbox.db.corrupt-") })
        let event = try #require(try await recoveredEvent(store))
        #expect((event["reason"] as? String)?.contains("newer") == true)
        #expect(event["seq_source"] as? String == "salvaged")
        let records = try await store.everything()
        #expect(records.map(\.seq) == [6], "only the recovered event, numbered after the old store's records")
        #expect(try await store.append([reading(6, priority: 2)]) == [7])
        #expect(log.all.contains { $0.contains("newer than this agent") })
        await store.shutdown()
    }

    @Test func anotherProgramsDatabaseIsNotTouchedButMovedAside() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        #expect(sqlite3_exec(db, "CREATE TABLE mine(x); INSERT INTO mine VALUES (1)", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)
        let store = try OutboxStore(path: path)
        let event = try #require(try await recoveredEvent(store))
        #expect((event["reason"] as? String)?.contains("not a MeterAgent outbox") == true)
        await store.shutdown()
    }

    @Test func aFullDiskIsAnErrorNotACrashAndWritingResumesWhenThereIsRoom() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        // 24 pages of 4 kB: a "disk" that fills after a few hundred readings.
        let store = try OutboxStore(path: path, options: StoreOptions(pageLimit: 24))
        var stored: [UInt64] = []
        var failure: StoreError?
        for batch in 0..<200 {
            do {
                stored += try await store.append((0..<20).map { reading(batch * 20 + $0, priority: 2) })
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.kind == .full)
        #expect(error.description.contains("full"))
        // Nothing half-written; everything reported stored is still there; the store still answers.
        #expect(try await store.everything().map(\.seq) == stored)
        // The forwarder drains some records: room again, and numbering continues without reuse.
        try await store.delete(Array(stored.prefix(200)))
        let next = try await store.append([reading(0, priority: 2)])
        #expect(next == [stored.last! + 1])
        // Or the disk grows.
        try await store.setPageLimit(10_000)
        #expect(try await store.append((0..<100).map { reading($0, priority: 2) }).count == 100)
        await store.shutdown()
    }

    @Test func aReaderSeesConsistentDataWhileTheWriterWrites() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let writer = try OutboxStore(path: path, options: StoreOptions(sync: .normal))
        _ = try await writer.append([reading(0, priority: 2)])
        let reader = try OutboxStore(path: path, options: .readOnly)
        let writing = Task {
            for batch in 0..<150 {
                _ = try await writer.append((0..<20).map { reading(batch * 20 + $0, priority: $0 % 4 == 0 ? 1 : 2) })
            }
        }
        var lastCount = 0
        var reads = 0
        for _ in 0..<20_000 {
            let records = try await reader.export(since: 0, limit: .max)
            let seqs = records.map(\.seq)
            #expect(seqs == (0..<seqs.count).map { UInt64($0 + 1) }, "a reader sees whole commits: 1...n without holes")
            #expect(records.count >= lastCount)
            lastCount = records.count
            let stats = try await reader.stats()
            #expect(stats.records >= lastCount)
            reads += 1
            if lastCount == 3001 { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        try await writing.value
        #expect(try await reader.export(since: 0, limit: .max).count == 3001)
        #expect(reads > 2)
        await reader.shutdown()
        await writer.shutdown()
    }
}

/// Damage found while the agent runs, not at start.
@Suite(.timeLimit(.minutes(1)))
struct RuntimeCorruptionTests {
    @Test func aFileDamagedUnderTheRunningStoreIsMovedAsideAndNumberingContinues() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let log = LogLines()
        let store = try OutboxStore(path: path, log: log.logger)
        let before = try await store.append((0..<300).map { reading($0, priority: 2) })
        try await store.checkpoint()
        // Garbage over the outbox tables' pages, behind the store's back…
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 4 * 4096)
        handle.write(Data(repeating: 0xFF, count: 10 * 4096))
        try handle.close()
        // …and a commit by another connection, so the store's page cache is invalid and it reads the file.
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        _ = sqlite3_exec(db, "PRAGMA user_version = \(OutboxSchema.version)", nil, nil, nil)
        sqlite3_close(db)

        await #expect(throws: StoreError.self) { _ = try await store.append([reading(1, priority: 2)]) }
        #expect(dir.files.contains { $0.hasPrefix("outbox.db.corrupt-") })
        #expect(log.all.contains { $0.contains("moved it to") })
        let records = try await store.everything()
        let event = try #require(records.first.flatMap { jsonObject($0.payload) })
        #expect(event["type"] as? String == "store.recovered")
        #expect(event["seq_source"] as? String == "memory")
        #expect(records.first!.seq == before.last! + 1)
        // The retried batch goes into the new store, numbered after everything before.
        #expect(try await store.append([reading(1, priority: 2)]) == [before.last! + 2])
        await store.shutdown()
    }
}
