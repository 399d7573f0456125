#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain detached pthread for blocking work, so that blocking C calls never occupy one of the
/// few threads of Swift's cooperative pool. Foundation's `Thread` would do the same but drags
/// Foundation into the agent. Public so that the store (MeterStore) runs its sqlite3 calls on a
/// thread of its own the same way.
public enum DedicatedThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new detached thread. Returns the `pthread_create` error code, 0 on success.
    /// (Naming the thread would need `pthread_setname_np`, a GNU extension Glibc's module hides.)
    public static func start(_ body: @escaping @Sendable () -> Void) -> Int32 {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return result
        }
        pthread_detach(thread)
        return 0
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
