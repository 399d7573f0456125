import MeterTestSupport
import Foundation
import MeterCore
import Testing
@testable import MeterStore

@Suite(.timeLimit(.minutes(1)))
struct OutboxStoreTests {
    @Test func appendsReadsInSequenceOrderAndDeletes() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let records = [reading(1, priority: 2), reading(2, priority: 1),
                       OutboxRecord(kind: .event, priority: 0, createdMs: 5, payload: "{\"type\":\"leak\"}"), reading(3, priority: 2)]
        let seqs = try await store.append(records)
        #expect(seqs == [1, 2, 3, 4])

        let all = try await store.oldest(limit: 10, maxBytes: 1 << 20)
        #expect(all.map(\.seq) == [1, 2, 3, 4])
        #expect(all.map(\.priority) == [2, 1, 0, 2])
        #expect(all.map(\.kind) == [.reading, .reading, .event, .reading])
        #expect(all.map(\.payload) == records.map(\.payload))
        #expect(all[2].jsonWithSeq == "{\"seq\":3,\"type\":\"leak\"}")

        // Bounded by bytes, but never empty while records are left.
        let small = try await store.oldest(limit: 10, maxBytes: records[0].payload.utf8.count + 1)
        #expect(small.map(\.seq) == [1])
        let tiny = try await store.oldest(limit: 10, maxBytes: 1)
        #expect(tiny.map(\.seq) == [1])
        let after = try await store.oldest(after: 2, limit: 10, maxBytes: 1 << 20)
        #expect(after.map(\.seq) == [3, 4])

        try await store.delete([1, 3, 99])
        #expect(try await store.everything().map(\.seq) == [2, 4])
        let stats = try await store.stats()
        #expect(stats.perClass.map(\.records) == [0, 1, 1])
        #expect(stats.perClass[1].bytes == Int64(records[1].payload.utf8.count))
        #expect(stats.oldestSeq == 2 && stats.newestSeq == 4 && stats.nextSeq == 5)
        #expect(stats.droppedPerClass == [0, 0, 0])
        await store.shutdown()
    }

    @Test func sequenceNumbersContinueAcrossReopenAndAfterDeletes() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        var store = try OutboxStore(path: path)
        #expect(try await store.append((1...3).map { reading($0, priority: 2) }) == [1, 2, 3])
        await store.shutdown()

        store = try OutboxStore(path: path)
        #expect(try await store.append([reading(4, priority: 1), reading(5, priority: 2)]) == [4, 5])
        try await store.delete([1, 2, 3, 4, 5])
        await store.shutdown()

        // Empty after deletes: the counter still remembers.
        store = try await OutboxStore.open(path: path)
        #expect(try await store.append([reading(6, priority: 2)]) == [6])
        #expect(try await store.everything().map(\.seq) == [6])
        await store.shutdown()
    }

    @Test func aStoreOpenedReadOnlyReadsButRefusesWrites() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let writer = try OutboxStore(path: path, maxBytes: 1 << 20)
        _ = try await writer.append([reading(1, priority: 1)])
        let reader = try OutboxStore(path: path, options: .readOnly)
        #expect(try await reader.everything().map(\.seq) == [1])
        #expect(try await reader.stats().maxBytes == 1 << 20)
        await #expect(throws: StoreError.self) { _ = try await reader.append([reading(2, priority: 1)]) }
        #expect(throws: StoreError.self) { _ = try OutboxStore(path: dir.path("missing.db"), options: .readOnly) }
        #expect(!FileManager.default.fileExists(atPath: dir.path("missing.db")))
        await reader.shutdown()
        await writer.shutdown()
    }

    @Test func exportLinesCarrySeqKindAndClass() {
        let record = StoredRecord(seq: 7, kind: .commandResult, priority: 0, createdMs: 1, payload: "{\"id\":\"c1\"}")
        #expect(record.exportLine == "{\"seq\":7,\"kind\":\"command_result\",\"class\":0,\"id\":\"c1\"}")
        #expect(StoredRecord(seq: 8, kind: .event, priority: 0, createdMs: 1, payload: "{}").jsonWithSeq == "{\"seq\":8}")
        let odd = StoredRecord(seq: 9, kind: .event, priority: 0, createdMs: 1, payload: "not json")
        #expect(jsonObject(odd.jsonWithSeq)?["payload"] as? String == "not json")
    }

    @Test func byteSizesParse() {
        #expect(StoreConfig.parseBytes("64MB") == 64 << 20)
        #expect(StoreConfig.parseBytes("512kB") == 512 << 10)
        #expect(StoreConfig.parseBytes("1048576") == 1_048_576)
        #expect(StoreConfig.parseBytes("2GiB") == 2 << 30)
        #expect(StoreConfig.parseBytes("12 MB") == 12 << 20)
        #expect(StoreConfig.parseBytes("MB") == nil)
        #expect(StoreConfig.parseBytes("-5MB") == nil)
        #expect(StoreConfig.parseBytes("1.5MB") == nil)
        #expect(StoreConfig.parseBytes("99999999999999999999") == nil)
    }
}

struct AcknowledgedRunsTests {
    @Test func consecutiveNumbersBecomeOneRangeAndGapsSplitThem() {
        #expect(OutboxEngine.runs([1, 2, 3, 5, 6, 9]) == [1...3, 5...6, 9...9])
        #expect(OutboxEngine.runs([4, 4, 5]) == [4...5])
        #expect(OutboxEngine.runs([]) == [])
    }
}
