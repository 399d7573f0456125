import MeterTestSupport
import Foundation
import MeterCore
import Testing
@testable import MeterStore

/// The byte budget: eviction order by class, and `buffer.dropped` events that account for every
/// missing sequence number.
@Suite(.timeLimit(.minutes(1)))
struct EvictionTests {
    struct DropEvent {
        var classes: [UInt8: (count: Int, first: UInt64, last: UInt64)]
    }

    func dropEvents(_ records: [StoredRecord]) -> [DropEvent] {
        records.compactMap { record in
            guard let object = jsonObject(record.payload), object["type"] as? String == "buffer.dropped" else { return nil }
            var classes: [UInt8: (Int, UInt64, UInt64)] = [:]
            for (key, value) in object["classes"] as? [String: [String: Any]] ?? [:] {
                classes[UInt8(key)!] = (value["count"] as! Int, UInt64(value["first_seq"] as! Int), UInt64(value["last_seq"] as! Int))
            }
            return DropEvent(classes: classes)
        }
    }

    @Test func staysWithinBudgetEvictsByClassAndAccountsForEveryMissingSeq() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("outbox.db")
        let budget: Int64 = 256 << 10
        let store = try OutboxStore(path: path, maxBytes: budget)
        var classOf: [UInt64: UInt8] = [:]
        var alarms: [UInt64] = []
        // ~2.4 MB of readings into a 256 kB store: one billing reading in five, an alarm now and then.
        for batch in 0..<400 {
            var records = (0..<40).map { i in reading(batch * 40 + i, priority: i % 5 == 0 ? 1 : 2) }
            if batch % 50 == 0 {
                records.append(OutboxRecord(kind: .event, priority: 0, createdMs: 1, payload: "{\"type\":\"alarm.leak\",\"n\":\(batch)}"))
            }
            let seqs = try await store.append(records)
            for (seq, record) in zip(seqs, records) {
                classOf[seq] = record.priority
                if record.priority == 0 { alarms.append(seq) }
            }
            let database = Int64(try Data(contentsOf: URL(fileURLWithPath: path)).count)
            let wal = (try? Data(contentsOf: URL(fileURLWithPath: path + "-wal")).count).map(Int64.init) ?? 0
            #expect(database + wal <= budget, "batch \(batch): \(database) + \(wal) bytes on disk, budget \(budget)")
        }

        let stats = try await store.stats()
        let present = try await store.everything()
        let presentSeqs = Set(present.map(\.seq))
        let events = dropEvents(present)
        #expect(!events.isEmpty)
        #expect(stats.totalBytes <= budget)
        // Class 0 is never evicted for readings.
        #expect(alarms.allSatisfy(presentSeqs.contains))
        #expect(stats.droppedPerClass[0] == 0)
        // Budget pressure this high takes all old class 2 and then class 1 too.
        #expect(stats.droppedPerClass[2] > 0 && stats.droppedPerClass[1] > 0)

        // Every missing sequence number is accounted for: counts match, each lies in its class's range.
        let missing = classOf.keys.filter { !presentSeqs.contains($0) }
        for priority: UInt8 in [1, 2] {
            let missingOfClass = missing.filter { classOf[$0] == priority }
            let reported = events.reduce(0) { $0 + ($1.classes[priority]?.count ?? 0) }
            #expect(reported == missingOfClass.count, "class \(priority): \(reported) reported, \(missingOfClass.count) missing")
            #expect(UInt64(reported) == stats.droppedPerClass[Int(priority)])
            for seq in missingOfClass {
                #expect(events.contains { event in event.classes[priority].map { $0.first <= seq && seq <= $0.last } ?? false },
                        "seq \(seq) of class \(priority) is missing but in no drop range")
            }
            // Oldest first: whatever is left of a class is newer than everything dropped from it.
            let kept = present.filter { $0.priority == priority && $0.kind == .reading }.map(\.seq)
            if let oldestKept = kept.min(), let newestDropped = missingOfClass.max() {
                #expect(oldestKept > newestDropped)
            }
        }
        // No sequence number is left unexplained: present, or dropped.
        let allSeqs = Set(classOf.keys).union(present.map(\.seq))
        let unexplained = Set(1...allSeqs.max()!).subtracting(allSeqs)
        #expect(unexplained.isEmpty, "\(unexplained.count) sequence numbers neither stored nor dropped: \(unexplained.sorted().prefix(10))")
        await store.shutdown()
    }

    @Test func onlyInstantaneousValuesGoWhileTheyLast() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 256 << 10)
        var billing: [UInt64] = []
        // Mostly instantaneous values; the billing ones fit the budget many times over.
        for batch in 0..<150 {
            let records = (0..<40).map { i in reading(batch * 40 + i, priority: i == 0 ? 1 : 2) }
            let seqs = try await store.append(records)
            billing.append(seqs[0])
        }
        let stats = try await store.stats()
        let present = Set(try await store.everything().map(\.seq))
        #expect(stats.droppedPerClass[2] > 0)
        #expect(stats.droppedPerClass[1] == 0)
        #expect(billing.allSatisfy(present.contains))
        await store.shutdown()
    }

    @Test func recordsInFlightAreNotEvicted() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 128 << 10)
        _ = try await store.append((0..<40).map { reading($0, priority: 2) })
        let inFlight = try await store.oldest(limit: 10, maxBytes: .max).map(\.seq)
        #expect(inFlight == Array(1...10))
        for batch in 1...60 {
            _ = try await store.append((0..<40).map { reading(batch * 40 + $0, priority: 2) })
        }
        let present = Set(try await store.everything().map(\.seq))
        #expect(inFlight.allSatisfy(present.contains), "the forwarder's batch is still there to be acknowledged")
        #expect(!present.contains(11), "older records after it were evicted")
        let event = try #require(try await store.everything().first { $0.kind == .event }.flatMap { jsonObject($0.payload) })
        #expect(event["first_seq"] as? Int == 11)
        await store.shutdown()
    }

    @Test func dropEventsInFlightAreNeverRewritten() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 128 << 10)
        var n = 0
        func fill(_ batches: Int) async throws {
            for _ in 0..<batches {
                _ = try await store.append((0..<40).map { _ in n += 1; return reading(n, priority: 2) })
            }
        }
        try await fill(60)
        let firstEvents = try await store.everything().filter { $0.kind == .event }
        #expect(firstEvents.count == 1, "repeated evictions while no one read the event update one event")
        // The forwarder takes everything, including that event; later drops must start a new event.
        let batch = try await store.oldest(limit: 100_000, maxBytes: .max)
        let taken = try #require(batch.first { $0.kind == .event })
        try await fill(60)
        let events = try await store.everything().filter { $0.kind == .event }
        #expect(events.count == 2)
        #expect(events.first { $0.seq == taken.seq }?.payload == taken.payload)
        await store.shutdown()
    }
}
