import Synchronization

/// A lock that a task holds across `await`s, first come first served. An actor would not do: it
/// lets another call in at every suspension, and a credit that waits for its commit must not see
/// a poll charge the same account in between. Waiters are bounded by their callers (one poll task
/// per device, commands serialised per device by the command service).
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                guard s.locked else {
                    s.locked = true
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    /// Hands the lock to the next waiter, if any (it stays locked for it).
    func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.waiters.isEmpty else {
                s.locked = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }

    func withLock<T: Sendable>(_ body: () async -> T) async -> T {
        await lock()
        defer { unlock() }
        return await body()
    }
}
