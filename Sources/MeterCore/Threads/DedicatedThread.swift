#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why no thread could be started (`pthread_create`'s error: out of memory, a thread limit).
public struct ThreadStartError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public var description: String { "cannot start a thread (pthread_create error \(code))" }
}

/// The one way this code runs blocking work (a bus's transactions, sqlite3 calls, console writes,
/// a simulator's serving loop, a connect with its DNS lookup): a plain pthread of its own, so that
/// blocking C calls never occupy one of the few threads of Swift's cooperative pool. Foundation's
/// `Thread` would do the same but drags Foundation into the agent.
///
/// Long-lived workers start one and keep it (`init`); one-off blocking calls `await run { … }`.
public final class DedicatedThread: Sendable {
    private let finished = WaitableState(false)

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new detached thread. `stackBytes` caps the thread's stack (reserved
    /// address space, which a 32-bit gateway runs out of with a hundred 8 MB default stacks).
    /// (Naming the thread would need `pthread_setname_np`, a GNU extension Glibc's module hides.)
    @discardableResult
    public init(stackBytes: Int? = nil, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        let finished = self.finished
        let context = Unmanaged.passRetained(Body {
            body()
            finished.withLock { $0 = true }
            finished.broadcast()
        }).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        if let stackBytes { pthread_attr_setstacksize(&attributes, max(stackBytes, Int(PTHREAD_STACK_MIN))) }
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { argument in
            guard let argument else { return nil }
            Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw ThreadStartError(code: result)
        }
    }

    /// Blocks the calling thread (never a Swift task) until the body has returned.
    public func join() {
        finished.wait(until: { $0 }, then: { _ in })
    }

    /// Blocks the calling thread at most `timeoutMs`; false if the body had not returned by then.
    @discardableResult
    public func join(timeoutMs: Int) -> Bool {
        finished.wait(until: { $0 }, timeoutMs: timeoutMs, then: { $0 })
    }

    /// Runs `body` on a thread of its own and waits for its result without holding a pool thread.
    /// If the waiting task is cancelled, or no thread can be started, this returns `onCancel` at
    /// once; a thread already running finishes (and cleans up) on its own.
    public static func run<T: Sendable>(onCancel: T, _ body: @escaping @Sendable () -> T) async -> T {
        let promise = Promise<T>()
        do {
            try DedicatedThread { promise.fulfill(body()) }
        } catch {
            return onCancel
        }
        return await promise.value(onCancel: onCancel)
    }

    /// Runs a loop that lives as long as the calling task on a thread of its own, and returns only
    /// once the loop has returned: cancelling the task sets `stop`, the loop's signal to finish, so
    /// a caller that gets control back knows the loop has let go of what it held (a port, a device).
    public static func runLoop(stackBytes: Int? = nil, stop: WaitableState<Bool>,
                               _ body: @escaping @Sendable () -> Void) async throws(ThreadStartError) {
        let finished = Promise<Void>()
        try DedicatedThread(stackBytes: stackBytes) {
            body()
            finished.fulfill(())
        }
        await withTaskCancellationHandler {
            await finished.settled()
        } onCancel: {
            stop.withLock { $0 = true }
            stop.broadcast()
        }
    }

    /// Sleeps the calling (dedicated) thread; never call from a Swift task.
    public static func sleep(microseconds: UInt64) {
        guard microseconds > 0 else { return }
        var request = timespec(tv_sec: Int(microseconds / 1_000_000), tv_nsec: Int(microseconds % 1_000_000) * 1000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }
}
