#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import Synchronization
import MeterStore
import MeterUplink

/// The outbox as the forwarder sees it: records in sequence order, removed only once acknowledged.
public protocol ForwarderOutbox: Sendable {
    /// The oldest records, in sequence order: at most `limit`, about `maxBytes` of payload, at
    /// least one while any is left.
    func pending(limit: Int, maxBytes: Int) async throws -> [UplinkRecord]
    /// Removes records the broker has acknowledged.
    func acknowledge(_ seqs: [UInt64]) async throws
}

/// Where batches go: the MQTT session, or a fake in tests.
public protocol UplinkPublisher: Sendable {
    /// Waits for a connection; false when the publisher has ended or the task was cancelled.
    func waitUntilConnected() async -> Bool
    /// QoS 1, sent in order, PUBACKs awaited together: the outcome of each message, in order.
    func publishInOrder(_ messages: [OutgoingMessage]) async -> [Result<Void, MQTTError>]
}

extension MQTTSession: UplinkPublisher {}

extension OutboxStore: ForwarderOutbox {
    public func pending(limit: Int, maxBytes: Int) async throws -> [UplinkRecord] {
        try await oldest(limit: limit, maxBytes: maxBytes).map { record in
            UplinkRecord(seq: record.seq, kind: record.kind, payload: record.payload)
        }
    }

    public func acknowledge(_ seqs: [UInt64]) async throws {
        try await delete(seqs)
    }
}

/// Moves records from the outbox to the broker, oldest first: groups consecutive records of one
/// kind into byte-bounded JSON batches, publishes each with QoS 1 and deletes its records only
/// after the PUBACK. While the broker is away it waits for the session to reconnect (the session
/// owns the back-off) and then resumes with the oldest record still stored, so the head-end sees
/// sequence numbers in order; a batch whose PUBACK was lost is sent again (at least once — the
/// head-end de-duplicates by gateway and seq).
public final class Forwarder<Outbox: ForwarderOutbox, Publisher: UplinkPublisher>: Sendable {
    private let outbox: Outbox
    private let publisher: Publisher
    private let topics: UplinkTopics
    private let builder: BatchBuilder
    private let log: Log
    private let idlePollMs: Int
    private let retryMs: Int
    private let readLimit: Int
    private let counters = ForwarderCounters()
    private let wakeSignal = WakeSignal()

    /// `idlePollMs`: how often an empty outbox is looked at again; `retryMs`: pause after a failed
    /// publish or store error before the next try (the session's own back-off covers reconnects).
    public init(outbox: Outbox, publisher: Publisher, topics: UplinkTopics, gateway: String, maxPayloadBytes: Int,
                log: Log = .console(), idlePollMs: Int = 250, retryMs: Int = 1_000, readLimit: Int = 2_000) {
        self.outbox = outbox
        self.publisher = publisher
        self.topics = topics
        self.builder = BatchBuilder(gateway: gateway, maxBytes: maxPayloadBytes)
        self.log = log
        self.idlePollMs = idlePollMs
        self.retryMs = retryMs
        self.readLimit = readLimit
    }

    public var statistics: ForwarderStatistics { counters.value }

    /// Looks at the outbox now instead of at the end of the idle pause: a command result is waiting.
    public func wake() { wakeSignal.wake() }

    /// Forwards until the task is cancelled or the publisher ends.
    public func run() async {
        var failing = false
        while !Task.isCancelled {
            guard await publisher.waitUntilConnected() else { return }
            let records: [UplinkRecord]
            do {
                // A few batches' worth per read: the store is read in sequence order each time, so
                // nothing here holds records the store might evict meanwhile.
                records = try await outbox.pending(limit: readLimit, maxBytes: builder.maxBytes * 8)
            } catch {
                log.error("forwarder cannot read the outbox: \(error)")
                await pause(retryMs)
                continue
            }
            if records.isEmpty {
                await wakeSignal.wait(upToMs: idlePollMs)
                continue
            }
            // The batches of one read are sent in order without waiting for each PUBACK (their
            // round trips overlap) and their records leave the store in one transaction, as far
            // as the first batch that failed: the head-end sees sequence numbers in order, and the
            // batches after a failed one go out again (duplicates, never a loss). Should the agent
            // stop before the delete, they are all sent again.
            let batches = builder.batches(records)
            let messages = batches.map { OutgoingMessage(topic: topics.topic(for: $0.kind), payload: $0.payload) }
            let outcomes = await publisher.publishInOrder(messages)
            var sent: [UplinkBatch] = []
            for (batch, outcome) in zip(batches, outcomes) {
                if case let .failure(error) = outcome {
                    counters.update { $0.failedPublishes += 1 }
                    if error.kind == .cancelled { break }
                    // Not connected is the ordinary race with a dropped link: the session logs the
                    // outage; here it is only worth a debug line.
                    if error.kind == .notConnected || failing {
                        log.debug("forwarder: batch not published, stays in the outbox: \(error.message)",
                                  ["seq.first": String(batch.firstSeq)])
                    } else {
                        log.warning("forwarder: batch not published, records stay in the outbox: \(error.message)",
                                    ["seq.first": String(batch.firstSeq), "seq.last": String(batch.lastSeq)])
                    }
                    failing = true
                    if error.kind != .notConnected && error.kind != .connectionLost { await pause(retryMs) }
                    break
                }
                if failing {
                    log.info("forwarder: publishing again", ["seq.first": String(batch.firstSeq)])
                    failing = false
                }
                sent.append(batch)
            }
            guard let last = sent.last else { continue }
            do {
                try await outbox.acknowledge(sent.flatMap(\.seqs))
            } catch {
                // The batches reached the broker; they will go out once more (duplicates, not a loss).
                log.error("forwarder cannot delete acknowledged records: \(error)", ["seq.first": String(sent[0].firstSeq)])
                await pause(retryMs)
                continue
            }
            let now = MonotonicClock.nowMs()
            counters.update { s in
                s.batches += sent.count
                for batch in sent {
                    s.records += batch.seqs.count
                    s.bytes += batch.payload.utf8.count
                }
                s.lastAcknowledgedSeq = last.lastSeq
                s.lastAcknowledgedMs = now
            }
        }
    }

    private func pause(_ ms: Int) async {
        try? await Task.sleep(for: .milliseconds(ms))
    }
}

/// What the forwarder has sent so far.
public struct ForwarderStatistics: Sendable, Hashable {
    public var batches = 0
    public var records = 0
    public var bytes = 0
    public var failedPublishes = 0
    public var lastAcknowledgedSeq: UInt64 = 0
    /// Monotonic ms of the last records the broker took (0: none yet).
    public var lastAcknowledgedMs: UInt64 = 0

    /// Whether records have left the store within the last `ms`.
    public func acknowledged(withinMs ms: UInt64, now: UInt64 = MonotonicClock.nowMs()) -> Bool {
        lastAcknowledgedMs > 0 && now &- lastAcknowledgedMs <= ms
    }
}

/// The forwarder's counters, readable from other tasks.
private final class ForwarderCounters: Sendable {
    private let statistics = Mutex(ForwarderStatistics())

    var value: ForwarderStatistics { statistics.withLock { $0 } }

    func update(_ body: (inout ForwarderStatistics) -> Void) {
        statistics.withLock { body(&$0) }
    }
}
