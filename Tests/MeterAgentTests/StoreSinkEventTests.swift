import MeterTestSupport
import MeterAgent
import MeterCore
import MeterProtocols
import Testing
@testable import MeterStore

/// Events go through the same queue and store as readings, as class 0 `event` records, without
/// waiting for the next flush (issue 11).
@Suite(.timeLimit(.minutes(1)))
struct StoreSinkEventTests {
    static func event(_ i: Int) -> MeterEvent {
        MeterEvent(device: DeviceID("gas-1"), point: PointName("gas.leak"), timestampMs: 5000 + Int64(i),
                   kind: .stateChanged(from: .bool(i % 2 == 1), to: .bool(i % 2 == 0)))
    }

    static func reading(_ i: Int) -> Reading {
        Reading(device: DeviceID("gas-1"), point: PointName("flow.rate"), value: .real(Double(i)), unit: "m³/h",
                timestampMs: 1000 + Int64(i), quality: .good, billing: false)
    }

    @Test func eventsAreCommittedAtOnceAsClassZeroEventRecordsAfterTheReadingsBeforeThem() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000)
        await sink.deliver([Self.reading(1), Self.reading(2)])
        #expect(try await store.everything().isEmpty, "readings wait for the flush")
        await sink.deliver(events: [Self.event(0), Self.event(1)])
        let stored = try await store.everything()
        #expect(stored.map(\.kind) == [.reading, .reading, .event, .event])
        #expect(stored.map(\.priority) == [2, 2, 0, 0])
        #expect(stored[2].payload == Self.event(0).json)
        #expect(stored[2].createdMs == 5000)
        #expect(stored[3].payload == #"{"type":"state.changed","ts":5001,"device":"gas-1","point":"gas.leak","from":true,"to":false}"#)
        #expect(await sink.statistics.events == 2)
        await sink.deliver(events: [])
        #expect(await sink.statistics.batches == 1, "no events, no commit")
        await store.shutdown()
    }

    @Test func eventsWaitInTheQueueWhileTheStoreRefusesWrites() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), options: StoreOptions(pageLimit: 12))
        let sink = StoreSink(store: store, flushIntervalMs: 60_000, capacity: 50)
        var delivered = 0
        while await sink.flush() {
            await sink.deliver((delivered..<delivered + 40).map(Self.reading))
            delivered += 40
            #expect(delivered < 10_000)
        }
        // A full queue gives up readings before an event: the event goes in first, then more
        // readings than the queue holds, so that it becomes the oldest record in the queue.
        await sink.deliver(events: [Self.event(7)])
        await sink.deliver((0..<60).map(Self.reading))
        #expect(await sink.statistics.overflowed[0] == 0)
        #expect(await sink.statistics.overflowed[2] > 0)
        #expect(try await store.everything().contains { $0.kind == .event && $0.payload.contains("gas.leak") } == false)
        try await store.setPageLimit(10_000)
        #expect(await sink.flush())
        let events = try await store.everything().filter { $0.kind == .event }.map(\.payload)
        #expect(events.contains(Self.event(7).json), "\(events)")
        await store.shutdown()
    }
}
