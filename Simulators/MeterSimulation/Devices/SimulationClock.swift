import Foundation
import Synchronization

/// Where device models get the time from: seconds since the Unix epoch, UTC. Tests inject a
/// `ManualClock` and move it forward instead of sleeping.
public protocol SimulationClock: Sendable {
    func now() -> Double
}

/// The real calendar clock.
public struct SystemClock: SimulationClock {
    public init() {}
    public func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A clock that moves only when told to.
public final class ManualClock: SimulationClock {
    private let time: Mutex<Double>

    public init(start: Double = 1_767_225_600) { // 2026-01-01T00:00:00Z
        time = Mutex(start)
    }

    public func now() -> Double { time.withLock { $0 } }
    public func advance(by seconds: Double) { time.withLock { $0 += seconds } }
    public func set(_ seconds: Double) { time.withLock { $0 = seconds } }
}

/// Sleeps until a CLOCK_MONOTONIC deadline, so a sequence of sleeps does not accumulate drift.
enum Monotonic {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func sleep(until deadline: Double) {
        guard deadline > now() else { return }
        var ts = timespec(tv_sec: Int(deadline), tv_nsec: Int((deadline - floor(deadline)) * 1e9))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}
