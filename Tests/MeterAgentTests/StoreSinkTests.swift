import MeterTestSupport
import Foundation
import MeterAgent
import MeterCore
import Testing
@testable import MeterStore

/// The agent's batching in front of the store.
@Suite(.timeLimit(.minutes(1)))
struct StoreSinkTests {
    func readings(_ n: Int, from start: Int = 0) -> [Reading] {
        (start..<start + n).map { (i: Int) -> Reading in
            let failed = i % 5 == 4
            let billing = i % 2 == 0
            let value: MeterValue? = failed ? nil : .real(Double(i))
            let point = PointName(billing ? "energy.import.total" : "voltage.l1")
            return Reading(device: DeviceID("m\(i % 3)"), point: point, value: value, unit: "x",
                           timestampMs: 1000 + Int64(i), quality: failed ? .timeout : .good, billing: billing)
        }
    }

    @Test func oneFlushIsOneTransactionInDeliveryOrderWithClasses() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000)
        let input = readings(10)
        await sink.deliver(Array(input[0..<4]))
        await sink.deliver(Array(input[4...]))
        #expect(try await store.everything().isEmpty, "nothing is written before the flush")
        #expect(await sink.flush())
        let stored = try await store.everything()
        #expect(stored.map(\.seq) == Array(1...10))
        #expect(stored.map(\.payload) == input.map(\.json))
        #expect(stored.map(\.priority) == input.map { $0.billing ? 1 : 2 })
        #expect(stored.contains { $0.payload.contains("\"quality\":\"timeout\"") }, "bad quality is stored too")
        let stats = await sink.statistics
        #expect(stats.batches == 1 && stats.stored == 10 && stats.lastStoredSeq == 10)
        await store.shutdown()
    }

    @Test func aFullBatchIsCommittedWithoutWaitingForTheInterval() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000, batchLimit: 8)
        let input = readings(20)
        for start in stride(from: 0, to: 20, by: 5) {
            await sink.deliver(Array(input[start..<start + 5]))
        }
        // Each delivery after the first would take the queue past 8: what waits is committed first.
        let stats = await sink.statistics
        #expect(stats.batches == 3 && stats.stored == 15 && stats.queued == 5)
        #expect(await sink.flush())
        #expect(try await store.everything().map(\.payload) == input.map(\.json), "in delivery order")
        await store.shutdown()
    }

    @Test func aFullDiskKeepsTheBatchQueuedAndOverflowIsReported() async throws {
        let dir = try TemporaryDirectory()
        // 16 pages: the empty schema (v4) and a few batches.
        let store = try OutboxStore(path: dir.path("outbox.db"), options: StoreOptions(pageLimit: 16))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000, capacity: 50)
        // Fill the "disk".
        var delivered = 0
        while await sink.flush() {
            await sink.deliver(readings(40, from: delivered))
            delivered += 40
            #expect(delivered < 10_000)
        }
        let storedBefore = try await store.everything().count
        #expect(await sink.statistics.queued == 40)
        #expect(await sink.statistics.failedFlushes == 1)
        // More arrives while the store refuses: the queue holds 50, the rest is counted.
        await sink.deliver(readings(30, from: delivered))
        let overflow = await sink.statistics.overflowed
        #expect(overflow.reduce(0, +) == 20)
        #expect(overflow[2] == 20, "instantaneous values go first")
        #expect(await sink.flush() == false)
        // Room again: everything queued is stored, preceded by the drop report.
        try await store.setPageLimit(10_000)
        #expect(await sink.flush())
        let all = try await store.everything()
        #expect(all.count == storedBefore + 1 + 50)
        let event = try #require(jsonObject(all[storedBefore].payload))
        #expect(event["type"] as? String == "buffer.dropped")
        #expect(event["reason"] as? String == "queue_full")
        #expect(event["count"] as? Int == 20)
        #expect(await sink.statistics.queued == 0)
        await store.shutdown()
    }

    @Test func runFlushesWhatIsLeftWhenCancelled() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000)
        let running = Task { await sink.run() }
        await sink.deliver(readings(7))
        running.cancel()
        await running.value
        #expect(try await store.everything().count == 7)
        await store.shutdown()
    }
}
