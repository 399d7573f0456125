import Synchronization

/// A lock that a task holds across `await`s, first come first served. An actor would not do: it
/// lets another call in at every suspension, and a credit that waits for its commit must not see
/// a poll charge the same account in between. Waiters are bounded by their callers (local cost
/// control: one poll task per device, commands serialised per device by the command service).
public final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Runs `body` holding the lock, after the tasks that asked for it earlier.
    public func withLock<T: Sendable>(_ body: () async -> T) async -> T {
        await lock()
        defer { unlock() }
        return await body()
    }

    private func lock() async {
        // A free lock is taken without suspending (and without a continuation).
        guard !state.withLock({ s in Self.take(&s) }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                // Freed in the meantime: take it; else wait for `unlock` to hand it over.
                if Self.take(&s) { return true }
                s.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    private static func take(_ s: inout State) -> Bool {
        guard !s.locked else { return false }
        s.locked = true
        return true
    }

    /// Hands the lock to the next waiter, if any (it stays locked for it).
    private func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.waiters.isEmpty else {
                s.locked = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
