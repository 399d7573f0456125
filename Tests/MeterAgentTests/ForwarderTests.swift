import MeterTestSupport
import Foundation
import MeterAgent
import MeterUplink
import Synchronization
import Testing

/// An outbox in memory that records what was acknowledged.
final class MemoryOutbox: ForwarderOutbox, Sendable {
    private let state: Mutex<State>

    private struct State {
        var records: [UplinkRecord]
        var acknowledged: [[UInt64]] = []
    }

    init(_ records: [UplinkRecord]) { state = Mutex(State(records: records)) }

    func append(_ more: [UplinkRecord]) { state.withLock { $0.records += more } }
    var remaining: [UInt64] { state.withLock { $0.records.map(\.seq) } }
    var acks: [[UInt64]] { state.withLock { $0.acknowledged } }

    func pending(limit: Int, maxBytes: Int) async throws -> [UplinkRecord] {
        state.withLock { Array($0.records.prefix(limit)) }
    }

    func acknowledge(_ seqs: [UInt64]) async throws {
        state.withLock {
            $0.acknowledged.append(seqs)
            $0.records.removeAll { seqs.contains($0.seq) }
        }
    }
}

/// A broker stand-in: accepts or fails publishes as the test says.
final class FakePublisher: UplinkPublisher, Sendable {
    private let state = Mutex(State())

    private struct State {
        var sent: [(topic: String, payload: String)] = []
        /// Publishes that fail before the next one is accepted.
        var failuresLeft = 0
        var attempts = 0
    }

    func failNext(_ n: Int) { state.withLock { $0.failuresLeft = n } }
    var published: [(topic: String, payload: String)] { state.withLock { $0.sent } }
    var attemptCount: Int { state.withLock { $0.attempts } }

    func waitUntilConnected() async -> Bool { !Task.isCancelled }

    /// A failure is a lost link: the messages after it in the call fail with it, unsent.
    func publishInOrder(_ messages: [OutgoingMessage]) async -> [Result<Void, MQTTError>] {
        let linkDown = MQTTError(.connectionLost, "link down")
        var outcomes: [Result<Void, MQTTError>] = []
        for message in messages {
            let fail: Bool = state.withLock { s in
                s.attempts += 1
                if s.failuresLeft > 0 { s.failuresLeft -= 1; return true }
                s.sent.append((message.topic, message.payload))
                return false
            }
            guard !fail else {
                outcomes += Array(repeating: .failure(linkDown), count: messages.count - outcomes.count)
                break
            }
            outcomes.append(.success(()))
        }
        return outcomes
    }
}

struct ForwarderTests {
    func reading(_ seq: UInt64) -> UplinkRecord {
        UplinkRecord(seq: seq, kind: .reading, payload: "{\"device\":\"d\",\"point\":\"p\",\"value\":\(seq).50,\"unit\":\"kWh\"}")
    }

    func seqs(in payload: String) -> [Int] {
        let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] ?? [:]
        let items = (object["readings"] ?? object["events"] ?? object["results"]) as? [[String: Any]] ?? []
        return items.compactMap { $0["seq"] as? Int }
    }

    /// Runs the forwarder until `done` holds (at most 10 s), then cancels it.
    func run(_ forwarder: Forwarder<MemoryOutbox, FakePublisher>, until done: @escaping () -> Bool) async {
        let task = Task { await forwarder.run() }
        let deadline = Date().addingTimeInterval(10)
        while !done() && Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        await task.value
    }

    @Test func publishesInOrderByKindAndDeletesOnlyWhatWasAcknowledged() async {
        let records = (1...5).map(reading) + [UplinkRecord(seq: 6, kind: .event, payload: "{\"type\":\"leak\"}")] + (7...8).map(reading)
        let outbox = MemoryOutbox(records)
        let publisher = FakePublisher()
        let forwarder = Forwarder(outbox: outbox, publisher: publisher, topics: UplinkTopics(prefix: "m/gw"), gateway: "gw",
                                  maxPayloadBytes: 4096, idlePollMs: 5, retryMs: 5)
        await run(forwarder) { outbox.remaining.isEmpty }
        #expect(outbox.remaining.isEmpty)
        #expect(publisher.published.map(\.topic) == ["m/gw/readings", "m/gw/events", "m/gw/readings"])
        #expect(publisher.published.flatMap { seqs(in: $0.payload) } == Array(1...8))
        // The three batches of one read leave the store in one delete.
        #expect(outbox.acks == [[1, 2, 3, 4, 5, 6, 7, 8]])
        #expect(publisher.published[0].payload.contains("\"value\":1.50,"))
        #expect(forwarder.statistics.records == 8 && forwarder.statistics.batches == 3)
        #expect(forwarder.statistics.lastAcknowledgedSeq == 8)
    }

    @Test func afterFailuresItResumesWithTheOldestRecordAndLeavesNoGap() async {
        let outbox = MemoryOutbox((1...300).map(reading))
        let publisher = FakePublisher()
        publisher.failNext(3)
        let forwarder = Forwarder(outbox: outbox, publisher: publisher, topics: UplinkTopics(prefix: "m/gw"), gateway: "gw",
                                  maxPayloadBytes: 1024, idlePollMs: 5, retryMs: 5)
        let task = Task { await forwarder.run() }
        // More records arrive while it works.
        try? await Task.sleep(for: .milliseconds(20))
        outbox.append((301...400).map(reading))
        let deadline = Date().addingTimeInterval(10)
        while !outbox.remaining.isEmpty && Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        await task.value
        #expect(outbox.remaining.isEmpty)
        // Failed publishes were never acknowledged, so every record went out exactly once, in order.
        #expect(publisher.published.flatMap { seqs(in: $0.payload) } == Array(1...400))
        #expect(outbox.acks.flatMap { $0 } == (1...400).map(UInt64.init))
        #expect(publisher.attemptCount == publisher.published.count + 3)
        #expect(forwarder.statistics.failedPublishes == 3)
        #expect(publisher.published.allSatisfy { $0.payload.utf8.count <= 1024 })
    }

    @Test func anEmptyOutboxPublishesNothing() async {
        let outbox = MemoryOutbox([])
        let publisher = FakePublisher()
        let forwarder = Forwarder(outbox: outbox, publisher: publisher, topics: UplinkTopics(prefix: "m/gw"), gateway: "gw",
                                  maxPayloadBytes: 1024, idlePollMs: 5, retryMs: 5)
        let start = Date()
        await run(forwarder) { Date().timeIntervalSince(start) > 0.1 }
        #expect(publisher.attemptCount == 0)
    }
}
