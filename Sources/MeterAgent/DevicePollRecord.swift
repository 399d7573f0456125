import MeterCore
import Synchronization

/// What the poller has seen of one device, for `meteragent status`.
public struct DevicePollState: Sendable, Hashable {
    public var polls: UInt64 = 0
    /// Polls with at least one good reading: the device answered.
    public var goodPolls: UInt64 = 0
    /// Polls without a good reading since the last good one.
    public var badPollsInARow: UInt64 = 0
    /// Wall-clock ms (UTC) of the last poll and of the last poll with a good reading.
    public var lastPollMs: Int64?
    public var lastGoodMs: Int64?
    /// The quality of the last poll's first bad reading, `good` when all were good.
    public var lastQuality: Quality?

    public init() {}
}

/// One device's poll state, written by its poll task after every poll and read by the control
/// socket's status request. One per device, made with the scheduler: a poll allocates nothing here.
final class DevicePollRecord: Sendable {
    private let state = Mutex(DevicePollState())

    var snapshot: DevicePollState { state.withLock { $0 } }

    func polled(good: Bool, quality: Quality, atMs now: Int64) {
        state.withLock { s in
            s.polls += 1
            s.lastPollMs = now
            s.lastQuality = quality
            if good {
                s.goodPolls += 1
                s.badPollsInARow = 0
                s.lastGoodMs = now
            } else {
                s.badPollsInARow += 1
            }
        }
    }
}
