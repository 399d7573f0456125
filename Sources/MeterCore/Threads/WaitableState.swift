#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// State behind a pthread mutex, with a condition variable that a dedicated thread sleeps on until
/// the state is what it waits for (a job queued, text to write, a thread finished). State that no
/// thread waits on is kept in a `Synchronization.Mutex` instead.
///
/// `@unchecked Sendable` because the compiler cannot see the lock: `state` is only ever read or
/// written inside `withLock`/`wait`, which hold `mutex`, and `State` itself must be `Sendable`, so
/// what leaves the lock is safe to use on the other thread. The mutex and condition live at fixed
/// heap addresses (pthread objects must not move) and are destroyed in `deinit`.
public final class WaitableState<State: Sendable>: @unchecked Sendable {
    // @usableFromInline: the lock and wait are inlined into (and specialised for) each caller.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>
    @usableFromInline var state: State

    public init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        // Timed waits measure against the monotonic clock: setting the wall clock (a gateway's
        // first NTP sync) must not cut a wait short or stretch it.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inlinable public func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    /// Blocks the calling thread (never call it from a Swift task) until `ready` holds, then runs `body`
    /// under the same lock.
    @inlinable public func wait<Result>(until ready: (State) -> Bool, then body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            pthread_cond_wait(condition, mutex)
        }
        return body(&state)
    }

    /// Like `wait(until:then:)`, but gives up after `timeoutMs`; `body` then runs with the state as
    /// it is, and `ready(state)` tells the caller which case it is in.
    public func wait<Result>(until ready: (State) -> Bool, timeoutMs: Int, then body: (inout State) -> Result) -> Result {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + (timeoutMs % 1000) * 1_000_000
        deadline.tv_sec += timeoutMs / 1000 + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return body(&state)
    }

    /// Wakes every thread blocked in `wait` so it re-checks its condition.
    @inlinable public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
