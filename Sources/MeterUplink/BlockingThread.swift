#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a blocking C call (a connect with its DNS lookup and TLS handshake, joining the network
/// thread) on a thread of its own, so it never occupies one of the cooperative pool's few threads.
/// Connection attempts are seconds apart at the least, so a thread per call costs nothing.
enum BlockingThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new detached thread; false when no thread could be created.
    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    /// Runs `body` on its own thread and waits for its result. If the waiting task is cancelled,
    /// or no thread can be created, this returns `onCancel` at once; a running thread finishes
    /// (and cleans up) on its own.
    static func run<T: Sendable>(onCancel: T, _ body: @escaping @Sendable () -> T) async -> T {
        let promise = Promise<T>()
        guard start({ promise.fulfill(body()) }) else { return onCancel }
        return await promise.value(onCancel: onCancel)
    }
}
