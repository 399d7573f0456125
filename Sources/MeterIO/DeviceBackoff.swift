/// When to stop asking a device that does not answer, and when to try it again.
///
/// On a shared RS-485 line every timeout costs the other meters `timeoutMs` of bus time, so a dead
/// meter must not be asked on every poll. After `threshold` consecutive failures the device is
/// skipped for `initialMs`; then one probe is let through. Each failed probe doubles the interval
/// up to `maxMs`; one success forgets everything.
///
/// A pure value with the time passed in, so tests move the clock instead of sleeping.
public struct DeviceBackoff: Sendable, Hashable {
    public var threshold: Int
    public var initialMs: UInt64
    public var maxMs: UInt64

    /// Failures since the last success.
    public private(set) var consecutiveFailures = 0
    /// The current skip interval; 0 while the device is not backing off.
    public private(set) var intervalMs: UInt64 = 0
    /// Until when (monotonic ms) the device is skipped.
    public private(set) var skipUntilMs: UInt64 = 0

    public init(threshold: Int = 3, initialMs: UInt64 = 2_000, maxMs: UInt64 = 60_000) {
        self.threshold = max(1, threshold)
        self.initialMs = max(1, initialMs)
        self.maxMs = max(self.initialMs, maxMs)
    }

    /// True while the device should not be asked at all.
    public func shouldSkip(now: UInt64) -> Bool {
        intervalMs > 0 && now < skipUntilMs
    }

    /// True once the threshold is reached: the next attempt is a probe, and a probe gets no retries.
    public var isBackingOff: Bool { intervalMs > 0 }

    /// Milliseconds until the next probe, for error messages.
    public func remainingMs(now: UInt64) -> UInt64 {
        shouldSkip(now: now) ? skipUntilMs - now : 0
    }

    public mutating func recordSuccess() {
        consecutiveFailures = 0
        intervalMs = 0
        skipUntilMs = 0
    }

    public mutating func recordFailure(now: UInt64) {
        consecutiveFailures += 1
        guard consecutiveFailures >= threshold else { return }
        intervalMs = intervalMs == 0 ? initialMs : min(maxMs, intervalMs * 2)
        skipUntilMs = now + intervalMs
    }
}
