import MeterCore
import MeterStore
import Synchronization

/// Holds polling back while the uplink drains the store but cannot keep up with it: then the
/// broker is reachable and the readings only wait for the forwarder, so reading faster would grow
/// the backlog until the store evicts what it just took, and would take the CPU the forwarder
/// needs. Eviction is for outages: with the uplink down (or no uplink at all) polling goes on and
/// the store makes room by class.
///
/// While the uplink drains, the store may grow by `growthBytes` over the least it has held since
/// (a backlog from an outage is replayed without holding polls back), and never past
/// `holdFraction` of its budget; polls wait until the forwarder has taken it back by half that
/// growth (or under `releaseFraction`). A poll already read is stored: the gate is asked before.
public final class StoreBackPressure: Sendable {
    private let fill: StoreFill
    private let uplinkDraining: @Sendable () -> Bool
    private let growthBytes: Int64?
    private let holdFraction: Double
    private let releaseFraction: Double
    private let log: Log
    private let state = Mutex(State())

    private struct State {
        /// The least the store has held since the uplink began to drain it (nil: not draining).
        var baseline: Int64?
        var holding = false
        var holds: UInt64 = 0
    }

    /// `growthBytes` nil: 1/32 of the store's budget, at least 512 kB.
    public init(fill: StoreFill, uplinkDraining: @escaping @Sendable () -> Bool, growthBytes: Int64? = nil,
                holdFraction: Double = 0.9, releaseFraction: Double = 0.8, log: Log) {
        self.fill = fill
        self.uplinkDraining = uplinkDraining
        self.growthBytes = growthBytes
        self.holdFraction = holdFraction
        self.releaseFraction = min(releaseFraction, holdFraction)
        self.log = log
    }

    /// How many times polling has been held back so far.
    public var holds: UInt64 { state.withLock { $0.holds } }

    /// Returns at once unless polling is to wait; then when the store has room again, the uplink
    /// went away, or the task is cancelled. Waiting pollers look again every `recheckMs` (the
    /// forwarder frees room a read at a time).
    public func waitForRoom(recheckMs: Int = 20) async {
        while shouldHold() {
            do {
                try await Task.sleep(for: .milliseconds(recheckMs))
            } catch {
                return
            }
        }
    }

    private func shouldHold() -> Bool {
        let (used, budget) = fill.bytes
        let draining = uplinkDraining()
        let growth = growthBytes ?? max(512 * 1024, budget / 32)
        let (hold, changed) = state.withLock { s -> (Bool, Bool) in
            guard draining else {
                s.baseline = nil
                let changed = s.holding
                s.holding = false
                return (false, changed)
            }
            let baseline = min(s.baseline ?? used, used)
            s.baseline = baseline
            let hold = s.holding
                ? used > min(baseline + growth / 2, Int64(Double(budget) * releaseFraction))
                : used > min(baseline + growth, Int64(Double(budget) * holdFraction))
            let changed = hold != s.holding
            if changed && hold { s.holds += 1 }
            s.holding = hold
            return (hold, changed)
        }
        if changed {
            if hold {
                log.info("the uplink is behind: polling waits for the forwarder instead of growing the backlog",
                         ["store.used_bytes": String(used), "store.budget_bytes": String(budget)])
            } else {
                log.info("the uplink caught up: polling resumes", ["store.used_bytes": String(used), "store.budget_bytes": String(budget)])
            }
        }
        return hold
    }
}
