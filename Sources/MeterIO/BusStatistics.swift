import MeterCore
import Synchronization

/// Counters and last problems of one bus since it was opened, for diagnostics and the technician's `bus stats`.
public struct BusStatistics: Sendable, Hashable {
    /// Transactions tried on the line, successfully or not (retries, back-off skips and invalid requests excluded).
    public var transactions: UInt64 = 0
    public var successes: UInt64 = 0
    /// Attempts that timed out (each retry counts).
    public var timeouts: UInt64 = 0
    /// Attempts whose reply had a bad CRC or was malformed (wrong unit, wrong length); retried like timeouts.
    public var crcErrors: UInt64 = 0
    /// Modbus exception replies.
    public var exceptions: UInt64 = 0
    /// Transactions that failed because the port or connection failed.
    public var connectionErrors: UInt64 = 0
    /// Transactions refused because the bounded queue was full.
    public var queueFullRejections: UInt64 = 0
    /// Transactions refused at once because their device was backing off.
    public var backoffSkips: UInt64 = 0
    /// Extra attempts after a timeout or CRC error.
    public var retries: UInt64 = 0
    /// Times the port or connection was (re)opened successfully.
    public var connects: UInt64 = 0
    /// Transactions waiting in the queue right now.
    public var queued: Int = 0
    /// Fraction of wall time the bus thread spent on transactions (inter-frame silence and
    /// timeouts included) over `utilisationWindowMs`: the last 50 to 60 s, or since the bus
    /// started when that is shorter.
    public var utilisation: Double = 0
    public var utilisationWindowMs: UInt64 = 0
    /// The last failure, as text, for a technician asking why a bus is quiet.
    public var lastError: String?
    /// Problems that did not stop the bus (e.g. a port without RS-485 mode); the last few only.
    public var notes: [String] = []

    public init() {}
}

/// How a device is named on its line: a Modbus unit id, or a DL/T 645 / CJ/T 188 meter address
/// as written (`SerialRequest.device`).
public enum LineDevice: Sendable, Hashable {
    case unit(UnitID)
    case address(String)
}

/// One device's share of its bus's counters (what `meteragent status` shows per device), and
/// its back-off as the bus sees it.
public struct DeviceLineStatistics: Sendable, Hashable {
    public var transactions: UInt64 = 0
    public var successes: UInt64 = 0
    public var timeouts: UInt64 = 0
    public var crcErrors: UInt64 = 0
    /// Exception replies (Modbus) or error replies (DL/T 645, CJ/T 188): the device is alive.
    public var exceptions: UInt64 = 0
    public var backoffSkips: UInt64 = 0
    /// Transactions in a row that got no reply after their retries (what the back-off counts);
    /// 0 again after any answer.
    public var consecutiveFailures = 0
    /// The current back-off interval; 0 while the device is asked normally.
    public var backoffMs: UInt64 = 0
    /// Milliseconds until the next probe of a device in back-off (filled in by the snapshot).
    public var nextProbeInMs: UInt64 = 0
    /// Monotonic ms until which the device is skipped.
    var skipUntilMs: UInt64 = 0

    public init() {}
}

/// A bus's counters, updated by its thread and read by whoever asks for `statistics`.
public final class BusStatus: Sendable {
    private struct State {
        var bus = BusStatistics()
        /// One entry per device that has been on the line: updated in place, so the polls of a
        /// known device allocate nothing here.
        var devices: [LineDevice: DeviceLineStatistics] = [:]
        var busy: BusyWindow
    }

    private let state: Mutex<State>

    init(nowMs: UInt64 = MonotonicClock.nowMs()) {
        state = Mutex(State(busy: BusyWindow(startedMs: nowMs)))
    }

    public var snapshot: BusStatistics {
        let now = MonotonicClock.nowMs()
        return state.withLock { s in Self.bus(s, now: now) }
    }

    /// The bus's counters and those of every device seen on the line, taken together (the
    /// devices' add up to the bus's), with the time to each device's next probe as of now.
    public var snapshotWithDevices: (bus: BusStatistics, devices: [LineDevice: DeviceLineStatistics]) {
        let now = MonotonicClock.nowMs()
        return state.withLock { s in
            let devices = s.devices.mapValues { d in
                var d = d
                d.nextProbeInMs = d.skipUntilMs > now ? d.skipUntilMs - now : 0
                return d
            }
            return (Self.bus(s, now: now), devices)
        }
    }

    private static func bus(_ s: State, now: UInt64) -> BusStatistics {
        var bus = s.bus
        (bus.utilisation, bus.utilisationWindowMs) = s.busy.utilisation(nowMs: now)
        return bus
    }

    public func update(_ body: (inout BusStatistics) -> Void) {
        state.withLock { body(&$0.bus) }
    }

    /// Updates the bus's counters and `device`'s together.
    func update(_ device: LineDevice, _ body: (inout BusStatistics, inout DeviceLineStatistics) -> Void) {
        state.withLock { s in body(&s.bus, &s.devices[device, default: DeviceLineStatistics()]) }
    }

    /// The bus thread spent `busyUs` on a job that ended at `endMs`.
    func addBusy(_ busyUs: UInt64, endMs: UInt64) {
        state.withLock { $0.busy.add(busyUs, atMs: endMs) }
    }
}

/// Busy time in six 10-second buckets: enough to say how loaded a line was over the last minute
/// without keeping a record per transaction.
struct BusyWindow {
    static let bucketMs: UInt64 = 10_000
    static let bucketCount = 6
    let startedMs: UInt64
    private var epochs = [UInt64](repeating: .max, count: BusyWindow.bucketCount)
    private var busyUs = [UInt64](repeating: 0, count: BusyWindow.bucketCount)

    init(startedMs: UInt64) { self.startedMs = startedMs }

    mutating func add(_ us: UInt64, atMs now: UInt64) {
        let epoch = now / Self.bucketMs
        let i = Int(epoch % UInt64(Self.bucketCount))
        if epochs[i] != epoch {
            epochs[i] = epoch
            busyUs[i] = 0
        }
        busyUs[i] += us
    }

    /// The busy fraction over the current bucket and the five before it (or since the start).
    func utilisation(nowMs now: UInt64) -> (Double, UInt64) {
        let epoch = now / Self.bucketMs
        let oldest = epoch >= UInt64(Self.bucketCount - 1) ? epoch - UInt64(Self.bucketCount - 1) : 0
        var busy: UInt64 = 0
        for i in 0..<Self.bucketCount where epochs[i] != .max && epochs[i] >= oldest && epochs[i] <= epoch {
            busy += busyUs[i]
        }
        let windowMs = now - max(startedMs, min(now, oldest * Self.bucketMs))
        guard windowMs > 0 else { return (0, 0) }
        return (min(1, Double(busy) / 1000 / Double(windowMs)), windowMs)
    }
}
