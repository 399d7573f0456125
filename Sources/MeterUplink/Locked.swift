#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// State shared between libmosquitto's network thread (callbacks) and Swift tasks, behind a
/// pthread mutex. Nothing in this module calls into libmosquitto while holding one, so the
/// library's own locks and ours never nest the other way round.
///
/// `@unchecked Sendable` because the compiler cannot see the lock: `state` is only read or written
/// inside `withLock`, and `State` must be `Sendable`, so what leaves the lock is safe to use on
/// another thread. The mutex lives at a fixed heap address (pthread objects must not move).
final class Locked<State: Sendable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var state: State

    init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }
}
