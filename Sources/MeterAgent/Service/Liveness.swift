import MeterCore
import Synchronization

/// Whether the agent's main loop really makes progress, for the service watchdog: the poll
/// scheduler reports every completed poll of a device, the store sink every answer of the store
/// and every reading it queues. The loop is stalled when no device poll completed for `limit`, or
/// when records have waited longer than `limit` for the store to answer at all (its thread is
/// stuck in a call). A store that answers with an error (a full disk, a lock another process
/// holds) is alive: a restart would not help it and would lose what waits in the queue, so that
/// is reported by the sink, not by the watchdog. Records the agent reported stored are in the
/// store whatever happens.
/// A site without devices (card readers only) is never stalled for want of polls.
/// A device in back-off or a dead meter still completes its polls (skipped or timed out): only a
/// loop that does not come round counts as stuck.
public final class Liveness: Sendable {
    private struct State {
        var lastPoll: ContinuousClock.Instant
        /// Since when records have been waiting for a commit (nil: none waiting).
        var waitingSince: ContinuousClock.Instant?
        var polls: UInt64 = 0
        var commits: UInt64 = 0
    }

    private let clock = ContinuousClock()
    private let state: Mutex<State>
    /// Changed by a config reload that adds the first devices or removes the last ones.
    private let expectsPolls: Atomic<Bool>

    public init(expectsPolls: Bool = true) {
        self.expectsPolls = Atomic(expectsPolls)
        state = Mutex(State(lastPoll: ContinuousClock().now))
    }

    /// A new config runs: it has devices to poll, or not; its polls count from now.
    public func siteChanged(expectsPolls: Bool) {
        let now = clock.now
        self.expectsPolls.store(expectsPolls, ordering: .relaxed)
        state.withLock { $0.lastPoll = now }
    }

    /// A device's poll finished (read and handed to the sink).
    public func pollCompleted() {
        let now = clock.now
        state.withLock { $0.lastPoll = now; $0.polls += 1 }
    }

    /// Records were queued for the store.
    public func recordsQueued() {
        let now = clock.now
        state.withLock { if $0.waitingSince == nil { $0.waitingSince = now } }
    }

    /// The store answered a write, committed or refused; `stillQueued` records wait for the next one.
    public func storeAnswered(stillQueued: Bool) {
        let now = clock.now
        state.withLock { $0.waitingSince = stillQueued ? now : nil; $0.commits += 1 }
    }

    /// Why the loop counts as stalled after `limit` without progress, or nil while it is alive.
    public func stall(limit: Duration) -> String? {
        let now = clock.now
        return state.withLock { s in
            if let since = s.waitingSince, now - since > limit {
                return "no answer from the store for \(Self.seconds(now - since)) s while records wait"
            }
            if expectsPolls.load(ordering: .relaxed), now - s.lastPoll > limit {
                return "no device poll completed for \(Self.seconds(now - s.lastPoll)) s"
            }
            return nil
        }
    }

    private static func seconds(_ d: Duration) -> String {
        TextFormat.fixed(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, 1)
    }
}
