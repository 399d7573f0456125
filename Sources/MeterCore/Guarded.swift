#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// State shared between a bus's own thread and the tasks that submit to it, behind a pthread mutex,
/// with a condition variable for the bus thread to sleep on while its queue is empty. Public so that
/// the store (MeterStore) guards its own worker thread's queue the same way.
///
/// `@unchecked Sendable` because the compiler cannot see the lock: `state` is only ever read or
/// written inside `withLock`/`wait`, which hold `mutex`, and `State` itself must be `Sendable`, so
/// what leaves the lock is safe to use on the other thread. The mutex and condition live at fixed
/// heap addresses (pthread objects must not move) and are destroyed in `deinit`.
public final class Guarded<State: Sendable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var state: State

    public init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    public func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    /// Blocks the calling thread (never call it from a Swift task) until `ready` holds, then runs `body`
    /// under the same lock.
    public func wait<Result>(until ready: (State) -> Bool, then body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            pthread_cond_wait(condition, mutex)
        }
        return body(&state)
    }

    /// Wakes every thread blocked in `wait` so it re-checks its condition.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
