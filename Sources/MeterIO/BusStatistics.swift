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
    /// The last failure, as text, for a technician asking why a bus is quiet.
    public var lastError: String?
    /// Problems that did not stop the bus (e.g. a port without RS-485 mode); the last few only.
    public var notes: [String] = []

    public init() {}
}

/// A bus's counters, updated by its thread and read by whoever asks for `statistics`.
public final class BusStatus: Sendable {
    private let counters = Mutex(BusStatistics())

    public var snapshot: BusStatistics { counters.withLock { $0 } }

    public func update(_ body: (inout BusStatistics) -> Void) {
        counters.withLock { body(&$0) }
    }
}
