import MeterTestSupport
import Foundation
import MeterAgent
import MeterCore
import Synchronization
import Testing
@testable import MeterStore

private final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Polling waits for the forwarder only while the uplink drains the store and falls behind.
@Suite(.timeLimit(.minutes(1)))
struct StoreBackPressureTests {
    /// A store of `maxBytes` filled with readings until `fraction` of its budget is used; returns
    /// the sequence numbers stored.
    func fill(_ store: OutboxStore, to fraction: Double) async throws -> [UInt64] {
        var seqs: [UInt64] = []
        var i = 0
        while store.fill.fraction < fraction {
            let batch = (0..<50).map { (j: Int) -> OutboxRecord in
                OutboxRecord(reading: Reading(device: DeviceID("m\(i)"), point: PointName("voltage.l1"), value: .real(Double(j)),
                                              unit: "V", timestampMs: 1_000 + Int64(i), quality: .good, billing: false))
            }
            seqs += try await store.append(batch)
            i += 1
        }
        return seqs
    }

    @Test func holdsWhileDrainingAndNearlyFullThenReleasesBelowTheReleaseMark() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 1 << 20)
        let seqs = try await fill(store, to: 0.92)
        // Draining from the start: the nearly full store is the backlog's least, the 90 % mark holds.
        let gate = StoreBackPressure(fill: store.fill, uplinkDraining: { true }, growthBytes: 1 << 20, log: .silent)
        let released = Flag()
        let waiter = Task {
            await gate.waitForRoom(recheckMs: 5)
            released.set()
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!released.isSet, "a nearly full store holds the poll back")
        #expect(gate.holds == 1)
        // The forwarder acknowledges the older half: room again.
        try await store.delete(Array(seqs.prefix(seqs.count / 2)))
        #expect(store.fill.fraction < 0.8)
        await waiter.value
        #expect(released.isSet)
        #expect(try await store.stats().dropped == 0, "nothing was evicted")
        await store.shutdown()
    }

    @Test func aBacklogThatGrowsWhileDrainingHoldsUntilTheForwarderTakesHalfOfTheGrowthBack() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 4 << 20)
        let draining = Flag()
        draining.set()
        let gate = StoreBackPressure(fill: store.fill, uplinkDraining: { draining.isSet }, growthBytes: 256 * 1024, log: .silent)
        await gate.waitForRoom(recheckMs: 5)
        let start = store.fill.bytes.used
        var seqs: [UInt64] = []
        while store.fill.bytes.used <= start + 256 * 1024 {
            seqs += try await fill(store, to: store.fill.fraction + 0.01)
        }
        #expect(store.fill.fraction < 0.5, "far from full: only the growth holds")
        let released = Flag()
        let waiter = Task {
            await gate.waitForRoom(recheckMs: 5)
            released.set()
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!released.isSet && gate.holds == 1)
        try await store.delete(Array(seqs.prefix(seqs.count * 3 / 4)))
        await waiter.value
        #expect(released.isSet)
        await store.shutdown()
    }

    @Test func anOutageNeverHoldsPollingBack() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 1 << 20)
        _ = try await fill(store, to: 0.95)
        let gate = StoreBackPressure(fill: store.fill, uplinkDraining: { false }, log: .silent)
        await gate.waitForRoom(recheckMs: 5)
        #expect(gate.holds == 0)
        await store.shutdown()
    }

    @Test func aStoreWithRoomNeverHolds() async throws {
        let dir = try TemporaryDirectory()
        let store = try OutboxStore(path: dir.path("outbox.db"), maxBytes: 1 << 20)
        _ = try await fill(store, to: 0.5)
        let gate = StoreBackPressure(fill: store.fill, uplinkDraining: { true }, log: .silent)
        await gate.waitForRoom(recheckMs: 5)
        _ = try await fill(store, to: 0.55)
        await gate.waitForRoom(recheckMs: 5)
        #expect(gate.holds == 0, "a backlog that grew by less than the allowance")
        await store.shutdown()
    }
}
