import MeterCore

/// Runs a blocking C call (a connect with its DNS lookup and TLS handshake, joining the network
/// thread) on a thread of its own, so it never occupies one of the cooperative pool's few threads.
/// Connection attempts are seconds apart at the least, so a thread per call costs nothing.
enum BlockingThread {
    /// Runs `body` on its own thread and waits for its result. If the waiting task is cancelled,
    /// or no thread can be created, this returns `onCancel` at once; a running thread finishes
    /// (and cleans up) on its own.
    static func run<T: Sendable>(onCancel: T, _ body: @escaping @Sendable () -> T) async -> T {
        let promise = Promise<T>()
        guard DedicatedThread.start({ promise.fulfill(body()) }) == 0 else { return onCancel }
        return await promise.value(onCancel: onCancel)
    }
}
