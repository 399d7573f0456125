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
/// Checked `Sendable`: it holds constants and the job queue; the connection lives on the store thread.
public final class OutboxStore: Sendable {
    public let path: String
    public let maxBytes: Int64
    /// How full the store is as of its last append or delete.
    public let fill: StoreFill
    private let queue: JobQueue<StoreJob>
    private let thread: DedicatedThread?

    /// Opens (or creates) the store, blocking the calling thread until the store thread has opened
    /// the file. For command-line tools and tests; a Swift task should use `open`.
    public init(path: String, maxBytes: Int64 = StoreConfig.defaultMaxBytes, options: StoreOptions = StoreOptions(),
                log: Log = .silent) throws(StoreError) {
        let queue = JobQueue<StoreJob>(capacity: 256)
        let outcome = WaitableState<StoreError??>(nil)
        let fill = StoreFill()
        let thread = StoreThread.start(path: path, maxBytes: maxBytes, options: options, log: log, fill: fill, queue: queue) { error in
            outcome.withLock { $0 = .some(error) }
            outcome.broadcast()
        }
        if let error = outcome.wait(until: { $0 != nil }, then: { $0! }) { throw error }
        self.path = path
        self.maxBytes = maxBytes
        self.fill = fill
        self.queue = queue
        self.thread = thread
    }

    /// Opens (or creates) the store without blocking the caller's thread.
    public static func open(path: String, maxBytes: Int64 = StoreConfig.defaultMaxBytes, options: StoreOptions = StoreOptions(),
                            log: Log = .silent) async throws(StoreError) -> OutboxStore {
        let cancelled = StoreError(.closed, path: path, operation: "open", message: "cancelled while opening")
        let result = await DedicatedThread.run(onCancel: Result<OutboxStore, StoreError>.failure(cancelled)) {
            Result { () throws(StoreError) in try OutboxStore(path: path, maxBytes: maxBytes, options: options, log: log) }
        }
        return try result.get()
    }

    public convenience init(config: StoreConfig, log: Log = .silent) throws(StoreError) {
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
        queue.close(reason: "store is closed", drain: true)
    }

    /// Closes and waits until the database is closed (for a clean shutdown, or a test that reopens the file).
    public func shutdown() async {
        close()
        guard let thread else { return }
        await DedicatedThread.run(onCancel: ()) { thread.join() }
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

    func submit<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OutboxEngine) throws(StoreError) -> T)
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
            switch queue.enqueue(job) {
            case nil: break
            case .closed?:
                continuation.resume(returning: .failure(StoreError(.closed, path: path, operation: operation, message: "store is closed")))
            case let .full(capacity)?:
                continuation.resume(returning: .failure(StoreError(.queueFull, path: path, operation: operation,
                                                                   message: "\(capacity) store operations already waiting")))
            }
        }
        return try result.get()
    }
}
