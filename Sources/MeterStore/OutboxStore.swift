import MeterCore

/// The durable outbox: readings, events and command results with a gateway-wide sequence number,
/// in one SQLite file in WAL mode, bounded in bytes with priority eviction.
///
/// Every sqlite3 call runs on the store's own thread (see `StoreThread`); callers `await`. The
/// queue in front of that thread is bounded: a call to a full queue fails at once with `.queueFull`.
///
/// Guarantees:
/// - `append` returns after one transaction has committed; with `sync: .full` (the default) the
///   write-ahead log has been fsynced, so the records survive `kill -9` and power loss. With
///   `.normal` they survive `kill -9` (not a power cut).
/// - Sequence numbers only grow: the counter is stored in the same transaction as the records and
///   is never reset by deletes, eviction, restarts, or a corrupt file being replaced.
/// - Past the byte budget, class 2 goes first (oldest first), then class 1; class 0 only ever
///   makes room for class 0. Every eviction is counted and written as a `buffer.dropped` event.
/// - A corrupt file, or one from another program or a newer agent, is moved to
///   `<path>.corrupt-<UTC time>`; a new store starts with a `store.recovered` event.
/// - A full disk fails the call with `.full` and writes nothing; the caller keeps its records and
///   retries.
///
/// Checked `Sendable`: it holds constants and `Guarded` state only; the connection lives on the thread.
public final class OutboxStore: Sendable {
    public let path: String
    public let maxBytes: Int64
    private let queue: Guarded<StoreQueue>

    private init(path: String, maxBytes: Int64, queue: Guarded<StoreQueue>) {
        self.path = path
        self.maxBytes = maxBytes
        self.queue = queue
    }

    /// Opens (or creates) the store, blocking the calling thread until the store thread has opened
    /// the file. For command-line tools and tests; a Swift task should use `open`.
    public convenience init(path: String, maxBytes: Int64 = StoreConfig.defaultMaxBytes, options: StoreOptions = StoreOptions(),
                            log: (@Sendable (String) -> Void)? = nil) throws(StoreError) {
        let queue = Guarded(StoreQueue(capacity: 256))
        let state = Guarded(OpenState.pending)
        StoreThread.start(path: path, maxBytes: maxBytes, options: options, log: log, queue: queue) { error in
            state.withLock { $0 = error.map(OpenState.failed) ?? .opened }
            state.broadcast()
        }
        let outcome = state.wait(until: { !$0.isPending }, then: { $0 })
        if case let .failed(error) = outcome { throw error }
        self.init(path: path, maxBytes: maxBytes, queue: queue)
    }

    /// Opens (or creates) the store without blocking the caller's thread.
    public static func open(path: String, maxBytes: Int64 = StoreConfig.defaultMaxBytes, options: StoreOptions = StoreOptions(),
                            log: (@Sendable (String) -> Void)? = nil) async throws(StoreError) -> OutboxStore {
        let queue = Guarded(StoreQueue(capacity: 256))
        let error: StoreError? = await withCheckedContinuation { continuation in
            StoreThread.start(path: path, maxBytes: maxBytes, options: options, log: log, queue: queue) { error in
                continuation.resume(returning: error)
            }
        }
        if let error { throw error }
        return OutboxStore(path: path, maxBytes: maxBytes, queue: queue)
    }

    public convenience init(config: StoreConfig, log: (@Sendable (String) -> Void)? = nil) throws(StoreError) {
        try self.init(path: config.path, maxBytes: config.maxBytes, options: StoreOptions(sync: config.sync), log: log)
    }

    deinit { close() }

    // MARK: - Operations

    /// Appends in one transaction; returns the records' sequence numbers, increasing, in order.
    public func append(_ records: [OutboxRecord]) async throws(StoreError) -> [UInt64] {
        try await submit("append") { engine throws(StoreError) in try engine.append(records) }
    }

    /// The oldest records after `seq` (0: from the start), in sequence order: at most `limit`, and
    /// at most `maxBytes` of payload — but at least one record while any is left.
    public func oldest(after seq: UInt64 = 0, limit: Int, maxBytes: Int) async throws(StoreError) -> [StoredRecord] {
        try await submit("read") { engine throws(StoreError) in try engine.oldest(after: seq, limit: limit, maxBytes: maxBytes) }
    }

    /// Removes records the broker has acknowledged (PUBACK). Unknown numbers are ignored.
    public func delete(_ seqs: [UInt64]) async throws(StoreError) {
        try await submit("delete") { engine throws(StoreError) in try engine.delete(seqs) }
    }

    public func stats() async throws(StoreError) -> BufferStats {
        try await submit("stats") { engine throws(StoreError) in try engine.stats() }
    }

    /// Records with `seq >= since`, in order, at most `limit`; does not change what `oldest` returns.
    public func export(since: UInt64, limit: Int) async throws(StoreError) -> [StoredRecord] {
        try await submit("export") { engine throws(StoreError) in try engine.records(from: since, limit: limit) }
    }

    /// Stops taking work; what is queued still runs, then the thread closes the database. Does not block.
    public func close() {
        queue.withLock { $0.closed = true }
        queue.broadcast()
    }

    /// Closes and waits until the database is closed (for a clean shutdown, or a test that reopens the file).
    public func shutdown() async {
        close()
        try? await waitUntilFinished()
    }

    // MARK: - Tests

    func setPageLimit(_ pages: Int) async throws(StoreError) {
        try await submit("page limit") { engine throws(StoreError) in try engine.setPageLimit(pages) }
    }

    func checkpoint() async throws(StoreError) {
        try await submit("checkpoint") { engine throws(StoreError) in try engine.checkpoint() }
    }

    func usedBytes() async throws(StoreError) -> Int64 {
        try await submit("size") { engine throws(StoreError) in try engine.usedBytes() }
    }

    // MARK: - Queue

    private func submit<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OutboxEngine) throws(StoreError) -> T)
        async throws(StoreError) -> T {
        let path = self.path
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            let job = StoreJob(run: { engine in
                do throws(StoreError) {
                    continuation.resume(returning: .success(try body(engine)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }, cancel: { error in
                continuation.resume(returning: .failure(StoreError(error.kind, path: path, operation: operation, message: error.message)))
            })
            let refusal = queue.withLock { state -> StoreError? in
                if state.closed {
                    return StoreError(.closed, path: path, operation: operation, message: "store is closed")
                }
                guard state.jobs.count < state.capacity else {
                    return StoreError(.queueFull, path: path, operation: operation, message: "\(state.capacity) store operations already waiting")
                }
                state.jobs.append(job)
                return nil
            }
            if let refusal {
                continuation.resume(returning: .failure(refusal))
            } else {
                queue.broadcast()
            }
        }
        return try result.get()
    }

    /// Waits for the thread to finish: polls the `finished` flag without holding a pool thread.
    private func waitUntilFinished() async throws {
        while !queue.withLock({ $0.finished }) {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
