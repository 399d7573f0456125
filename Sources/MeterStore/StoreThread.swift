import MeterCore

/// One piece of work for the store thread, and how to fail it if the store closes first.
struct StoreJob: Sendable {
    let run: @Sendable (OutboxEngine) -> Void
    let cancel: @Sendable (StoreError) -> Void
}

/// The dedicated thread that owns a store's SQLite connection. Every sqlite3 call — including
/// each commit's fsync — happens here, never on Swift's cooperative pool, which on a 2-core
/// gateway has two threads. It opens the database, reports through `opened`, serves `queue` until
/// the queue is closed and drained, and closes the database on its way out.
enum StoreThread {
    static func start(path: String, maxBytes: Int64, options: StoreOptions, log: Log, fill: StoreFill,
                      queue: JobQueue<StoreJob>, opened: @escaping @Sendable (StoreError?) -> Void) -> DedicatedThread? {
        do {
            return try DedicatedThread {
                let engine: OutboxEngine
                do throws(StoreError) {
                    engine = try OutboxEngine(path: path, maxBytes: maxBytes, options: options, log: log, fill: fill)
                } catch {
                    fail(queue, error)
                    opened(error)
                    return
                }
                opened(nil)
                while let job = queue.next() { job.run(engine) }
                engine.close()
                fail(queue, StoreError(.closed, path: path, operation: "close", message: "store closed"))
            }
        } catch {
            let failure = StoreError(.other, path: path, operation: "open", message: "cannot start the store thread: \(error)")
            fail(queue, failure)
            opened(failure)
            return nil
        }
    }

    /// Closes the queue and fails whatever is still in it.
    private static func fail(_ queue: JobQueue<StoreJob>, _ reason: StoreError) {
        for job in queue.closeAndTakeAll(reason: reason.message) { job.cancel(reason) }
    }
}
