import MeterCore
import MeterStore
import Synchronization

/// Holds polling back, instead of letting the store evict what it just took, while the uplink
/// drains the store and the store is nearly full: then the broker is reachable and the readings only
/// wait for the forwarder, so reading faster would throw readings away for nothing. Eviction is
/// for outages: with the uplink down (or no uplink at all) polling goes on and the store makes
/// room by class.
///
/// Polls wait from `holdFraction` of the store's budget until the forwarder has brought it back
/// under `releaseFraction`; a poll already read is stored (the gate is asked before a poll).
public final class StoreBackPressure: Sendable {
    private let fill: StoreFill
    private let uplinkDraining: @Sendable () -> Bool
    private let holdFraction: Double
    private let releaseFraction: Double
    private let log: Log
    private let state = Mutex(State())

    private struct State {
        var holding = false
        var holds: UInt64 = 0
    }

    public init(fill: StoreFill, uplinkDraining: @escaping @Sendable () -> Bool, holdFraction: Double = 0.9,
                releaseFraction: Double = 0.8, log: Log) {
        self.fill = fill
        self.uplinkDraining = uplinkDraining
        self.holdFraction = holdFraction
        self.releaseFraction = min(releaseFraction, holdFraction)
        self.log = log
    }

    /// How many times polling has been held back so far.
    public var holds: UInt64 { state.withLock { $0.holds } }

    /// Returns at once unless polling is to wait; then when the store has room again, the uplink
    /// went away, or the task is cancelled. Waiting pollers look again every `recheckMs` (the
    /// forwarder frees room a batch at a time, and a wait is the exception, not the routine).
    public func waitForRoom(recheckMs: Int = 50) async {
        while shouldHold() {
            do {
                try await Task.sleep(for: .milliseconds(recheckMs))
            } catch {
                return
            }
        }
    }

    private func shouldHold() -> Bool {
        let fraction = fill.fraction
        let draining = fraction >= releaseFraction && uplinkDraining()
        let (hold, changed) = state.withLock { s -> (Bool, Bool) in
            let hold = draining && (s.holding ? fraction >= releaseFraction : fraction >= holdFraction)
            let changed = hold != s.holding
            if changed && hold { s.holds += 1 }
            s.holding = hold
            return (hold, changed)
        }
        if changed {
            let percent = String(Int((fraction * 100).rounded()))
            if hold {
                log.warning("store nearly full while the uplink is connected: polling waits for the forwarder instead of evicting",
                            ["store.used_percent": percent])
            } else {
                log.info("store has room again: polling resumes", ["store.used_percent": percent])
            }
        }
        return hold
    }
}
