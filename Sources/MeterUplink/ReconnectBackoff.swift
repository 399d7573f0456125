/// When to (re)connect to the broker: a state machine that takes what happened and returns what
/// to do next, so the session carries out actions and tests drive it without a broker, a clock or
/// real randomness.
///
/// Waits grow exponentially from `minMs` to `maxMs` with "equal jitter": half the step is fixed,
/// half is random. The fixed half keeps a failing gateway from hammering the broker; the random
/// half keeps ten thousand gateways from reconnecting in lock-step after a broker restart.
/// A connection that stayed up for `stableAfterMs` resets the growth; one that drops sooner (a
/// broker that accepts and then kicks us) keeps growing it.
public struct ReconnectBackoff<Random: RandomNumberGenerator> {
    public struct Policy: Sendable, Hashable {
        public var minMs: Int
        public var maxMs: Int
        public var stableAfterMs: Int

        public init(minMs: Int, maxMs: Int, stableAfterMs: Int? = nil) {
            self.minMs = max(1, minMs)
            self.maxMs = max(self.minMs, maxMs)
            self.stableAfterMs = stableAfterMs ?? max(30_000, self.maxMs)
        }
    }

    public enum Action: Sendable, Hashable {
        /// Start a connection attempt now.
        case connect
        /// Sleep this long, then report `waitElapsed()`.
        case wait(ms: Int)
        /// Nothing to do (connected, stopped, or an event that does not apply in this state).
        case none
    }

    public enum State: Sendable, Hashable {
        case idle
        case connecting(failures: Int)
        case connected(sinceMs: UInt64, failures: Int)
        case waiting(failures: Int)
        case stopped
    }

    public let policy: Policy
    public private(set) var state: State = .idle
    private var random: Random

    public init(policy: Policy, random: Random) {
        self.policy = policy
        self.random = random
    }

    /// Consecutive failed attempts (or short-lived connections) so far.
    public var failures: Int {
        switch state {
        case .idle, .stopped: 0
        case let .connecting(n), let .waiting(n), let .connected(_, n): n
        }
    }

    /// The first attempt goes out at once: a broker that is up should see the gateway immediately.
    public mutating func start() -> Action {
        guard case .idle = state else { return .none }
        state = .connecting(failures: 0)
        return .connect
    }

    public mutating func connected(nowMs: UInt64) -> Action {
        guard case let .connecting(n) = state else { return .none }
        state = .connected(sinceMs: nowMs, failures: n)
        return .none
    }

    public mutating func connectFailed() -> Action {
        guard case let .connecting(n) = state else { return .none }
        return waitAfter(failures: n + 1)
    }

    public mutating func connectionLost(nowMs: UInt64) -> Action {
        guard case let .connected(since, n) = state else { return .none }
        let stable = nowMs >= since && nowMs - since >= UInt64(policy.stableAfterMs)
        return waitAfter(failures: stable ? 1 : n + 1)
    }

    public mutating func waitElapsed() -> Action {
        guard case let .waiting(n) = state else { return .none }
        state = .connecting(failures: n)
        return .connect
    }

    public mutating func stop() -> Action {
        state = .stopped
        return .none
    }

    /// The wait before attempt `failures + 1`: step = min(max, min · 2^(failures−1)),
    /// wait = step/2 + random(0…step/2).
    public func step(failures: Int) -> Int {
        var step = policy.minMs
        var doublings = max(0, failures - 1)
        while doublings > 0 && step < policy.maxMs {
            step = step > policy.maxMs / 2 ? policy.maxMs : step * 2
            doublings -= 1
        }
        return min(step, policy.maxMs)
    }

    private mutating func waitAfter(failures: Int) -> Action {
        state = .waiting(failures: failures)
        let step = step(failures: failures)
        let fixed = step / 2
        // One draw, reduced modulo the span: never loops (rejection sampling could, with a
        // scripted generator) and the slight modulo bias does not matter for a jitter.
        let jitter = Int(random.next() % UInt64(step - fixed + 1))
        return .wait(ms: fixed + jitter)
    }
}
