import MeterCore

/// One piece of work for the store thread, and how to fail it if the store closes first.
struct StoreJob: Sendable {
    let run: @Sendable (OutboxEngine) -> Void
    let cancel: @Sendable (StoreError) -> Void
}

/// The store thread's bounded queue.
struct StoreQueue: Sendable {
    var jobs: [StoreJob] = []
    let capacity: Int
    var closed = false
    /// Set by the thread when it has closed the database and ended.
    var finished = false
}

/// Whether the thread has opened the database yet.
enum OpenState: Sendable {
    case pending
    case opened
    case failed(StoreError)

    var isPending: Bool { if case .pending = self { true } else { false } }
}

/// The dedicated thread that owns a store's SQLite connection. Every sqlite3 call — including
/// each commit's fsync — happens here, never on Swift's cooperative pool, which on a 2-core
/// gateway has two threads. It reuses MeterCore's `DedicatedThread` and `Guarded`, the pattern of a bus.
enum StoreThread {
    /// Starts the thread; it opens the database, reports through `opened`, then serves `queue`
    /// until it is closed, and closes the database on its way out.
    static func start(path: String, maxBytes: Int64, options: StoreOptions, log: (@Sendable (String) -> Void)?,
                      queue: Guarded<StoreQueue>, opened: @escaping @Sendable (StoreError?) -> Void) {
        let started = DedicatedThread.start {
            let engine: OutboxEngine
            do throws(StoreError) {
                engine = try OutboxEngine(path: path, maxBytes: maxBytes, options: options, log: log)
            } catch {
                finish(queue, reason: error)
                opened(error)
                return
            }
            opened(nil)
            serve(engine, queue)
        }
        if started != 0 {
            let error = StoreError(.other, path: path, operation: "open", message: "cannot start the store thread (pthread_create error \(started))")
            finish(queue, reason: error)
            opened(error)
        }
    }

    private static func serve(_ engine: OutboxEngine, _ queue: Guarded<StoreQueue>) {
        while let job = queue.wait(until: { !$0.jobs.isEmpty || $0.closed }, then: { state -> StoreJob? in
            state.jobs.isEmpty ? nil : state.jobs.removeFirst()
        }) {
            job.run(engine)
        }
        engine.close()
        finish(queue, reason: StoreError(.closed, path: engine.path, operation: "close", message: "store closed"))
    }

    /// Marks the queue finished and fails whatever is still in it.
    private static func finish(_ queue: Guarded<StoreQueue>, reason: StoreError) {
        let pending = queue.withLock { state -> [StoreJob] in
            state.closed = true
            state.finished = true
            defer { state.jobs.removeAll() }
            return state.jobs
        }
        queue.broadcast()
        for job in pending { job.cancel(reason) }
    }
}
