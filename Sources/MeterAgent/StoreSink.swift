#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import MeterStore

/// Hands readings to the outbox in batches: the poller's readings collect in a bounded queue and
/// are committed in one transaction every `flushIntervalMs` (one fsync per batch instead of one
/// per reading — what keeps flash wear and CPU low on a gateway), or earlier when more than
/// `batchLimit` would wait, so that the memory they take does not grow with the number of meters.
///
/// A reading is "stored" once `append` has returned its sequence number; that is logged at debug
/// level as `stored seq=FIRST..LAST`. Until then it lives only in this queue, so a `kill -9`
/// loses at most one flush interval of readings that were never reported stored.
///
/// When the store fails (a full disk), the batch stays queued and is retried at the next flush.
/// When the queue is full, the oldest instantaneous reading makes room (then the oldest billing
/// one); every reading dropped that way is counted, logged and written to the store as a
/// `buffer.dropped` event with reason `queue_full` as soon as it accepts writes again.
///
/// Events (state changes, alarms) take the same queue as class 0 records — the last a full queue
/// gives up, counted like the rest — and are committed at once instead of at the next flush, so
/// an alarm reaches the outbox (and the uplink) within its poll.
public actor StoreSink: ReadingSink {
    public struct Statistics: Sendable {
        public var stored: UInt64 = 0
        /// Events handed over by the poller (stored or still queued).
        public var events: UInt64 = 0
        public var batches: UInt64 = 0
        public var failedFlushes: UInt64 = 0
        /// Readings dropped from the full queue, by class.
        public var overflowed: [UInt64] = [0, 0, 0]
        public var queued = 0
        public var lastStoredSeq: UInt64?
        /// Wall-clock ms of the last successful commit.
        public var lastCommitMs: Int64?
    }

    private let store: OutboxStore
    private let flushIntervalMs: Int
    private let capacity: Int
    private let batchLimit: Int
    private let log: Log
    /// Also print each reading as a JSON line on stdout.
    private let echo: Bool
    private var pending: [OutboxRecord] = []
    /// Overflow not yet written to the store as an event.
    private var unreportedOverflow: [UInt8: UInt64] = [:]
    private var failing = false
    private var overflowing = false
    private var stats = Statistics()
    /// Told of every queued record and every commit (the service watchdog's sign of progress).
    private let liveness: Liveness?

    /// `batchLimit`: a hundred three-phase meters polled every second give ~2,300 readings per
    /// second; 1,024 queued readings take ~170 kB and cost two or three commits a second.
    public init(store: OutboxStore, flushIntervalMs: Int = 1000, capacity: Int = 20_000, batchLimit: Int = 1024,
                log: Log = .console(), echo: Bool = false, liveness: Liveness? = nil) {
        self.store = store
        self.liveness = liveness
        self.echo = echo
        self.flushIntervalMs = max(10, flushIntervalMs)
        self.capacity = max(1, capacity)
        self.batchLimit = max(1, min(batchLimit, self.capacity))
        self.log = log
    }

    public var statistics: Statistics {
        var s = stats
        s.queued = pending.count
        return s
    }

    public func deliver(_ readings: [Reading]) async {
        // Commit first when these would take the queue past a batch (while the store refuses
        // writes, the periodic flush retries and the queue bound holds), so a batch never
        // outgrows the buffer reserved for it.
        if !pending.isEmpty && pending.count + readings.count > batchLimit && !failing { await flush() }
        var lines: [String] = []
        if echo { lines.reserveCapacity(readings.count) }
        for reading in readings {
            if pending.count >= capacity { dropOne() }
            // Stored as a compact row; its JSON is built again, the same text, when it is sent.
            if echo { lines.append(reading.json) }
            pending.append(OutboxRecord(reading: reading))
        }
        if !readings.isEmpty { liveness?.recordsQueued() }
        if echo { await ConsoleOutput.stdout.write(lines: lines) }
    }

    public func deliver(events: [MeterEvent]) async {
        guard !events.isEmpty else { return }
        for event in events {
            if pending.count >= capacity { dropOne() }
            pending.append(.event(json: event.json, ts: event.timestampMs))
        }
        stats.events += UInt64(events.count)
        liveness?.recordsQueued()
        // While the store refuses writes the periodic flush retries; the events wait in the queue.
        if !failing { await flush() }
    }

    /// Makes room: the oldest class-2 record, else the oldest class-1, else the oldest of all.
    private func dropOne() {
        let index = pending.firstIndex { $0.priority == RecordPriority.instantaneous }
            ?? pending.firstIndex { $0.priority == RecordPriority.billing } ?? 0
        let priority = pending.remove(at: index).priority
        stats.overflowed[Int(priority)] += 1
        unreportedOverflow[priority, default: 0] += 1
        if !overflowing {
            overflowing = true
            log.warning("store queue full; dropping the oldest readings (counted, reported as buffer.dropped)",
                        ["capacity": String(capacity)])
        }
    }

    /// Commits what is queued in one transaction. Returns false when the store refused it (the
    /// records stay queued).
    @discardableResult
    public func flush() async -> Bool {
        // The queue's buffer goes to the store as it is (no copy); new readings start a new one,
        // sized like this one (growing it by doubling would leave up to half of it unused).
        let taken = pending
        pending = []
        if !taken.isEmpty { pending.reserveCapacity(min(batchLimit, taken.count)) }
        var batch = taken
        if !unreportedOverflow.isEmpty {
            let classes = unreportedOverflow.mapValues { DroppedRange(count: $0) }
            batch.insert(StoreEvents.dropped(classes, reason: "queue_full", ts: WallClock.nowMs()), at: 0)
        }
        guard !batch.isEmpty else { return true }
        let overflowReported = unreportedOverflow
        unreportedOverflow = [:]
        do {
            let seqs = try await store.append(batch)
            stats.stored += UInt64(seqs.count)
            stats.batches += 1
            stats.lastStoredSeq = seqs.last
            stats.lastCommitMs = WallClock.nowMs()
            liveness?.storeAnswered(stillQueued: !pending.isEmpty)
            if let first = seqs.first, let last = seqs.last {
                log.debug("stored seq=\(first)..\(last)", ["records": String(seqs.count)])
            }
            if failing {
                failing = false
                log.info("store accepts writes again", ["path": store.path])
            }
            overflowing = false
            return true
        } catch {
            // Put the batch back in front of what arrived meanwhile; the queue bound still holds.
            pending = taken + pending
            for (priority, count) in overflowReported { unreportedOverflow[priority, default: 0] += count }
            while pending.count > capacity { dropOne() }
            stats.failedFlushes += 1
            liveness?.storeAnswered(stillQueued: true)
            if !failing {
                failing = true
                log.error("cannot store readings; keeping them queued and retrying", ["error": error.description])
            }
            return false
        }
    }

    /// Flushes every `flushIntervalMs` until the task is cancelled, then flushes what is left.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(flushIntervalMs))
            } catch {
                break
            }
            await flush()
        }
        await flush()
    }
}

