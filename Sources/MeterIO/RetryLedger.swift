import MeterCore

/// The retry and back-off bookkeeping every bus worker shares: which devices are skipped for now,
/// how many attempts a transaction gets, and the counters that go with each outcome. `Device` is
/// whatever names a device on the line (a Modbus unit, a meter address).
/// Confined to the thread that runs the bus (its own, or the TCP loop's), like the worker that owns it.
struct RetryLedger<Device: Hashable> {
    private let config: BusConfig
    private let status: BusStatus
    private let now: () -> UInt64
    /// How the bus's per-device counters name `Device`.
    private let lineDevice: (Device) -> LineDevice
    /// Only devices that have failed are here, so at most one entry per device on the bus.
    private var devices: [Device: DeviceBackoff] = [:]

    init(config: BusConfig, status: BusStatus, now: @escaping () -> UInt64, lineDevice: @escaping (Device) -> LineDevice) {
        self.config = config
        self.status = status
        self.now = now
        self.lineDevice = lineDevice
    }

    /// Back-off for opening the port: a missing adapter or refused connection is retried after
    /// 0.5 s, 1 s, 2 s … up to 10 s instead of on every transaction.
    static func connectBackoff(for config: BusConfig) -> DeviceBackoff {
        DeviceBackoff(threshold: 1, initialMs: UInt64(config.reconnectInitialMs), maxMs: max(10_000, UInt64(config.reconnectInitialMs)))
    }

    /// Why `device` is not to be asked at `time` (counted as a back-off skip), nil when it may be.
    func skipReason(_ device: Device, at time: UInt64) -> String? {
        guard let backoff = devices[device], backoff.shouldSkip(now: time) else { return nil }
        status.update(lineDevice(device)) { bus, device in
            bus.backoffSkips += 1
            device.backoffSkips += 1
        }
        return "no reply to the last \(backoff.consecutiveFailures) requests; next try in \(backoff.remainingMs(now: time)) ms"
    }

    /// Runs one transaction for `device`: `attempt` until `next` says it is done. For a worker
    /// that blocks on its line; an event loop calls `begin` and `next` itself as replies arrive.
    mutating func transact<Output, Failure: BusError>(
        _ device: Device, attempt: () -> Result<Output, Failure>, connectionBroke: (Failure) -> Bool
    ) -> Result<Output, Failure> {
        var attempts = begin(device)
        while true {
            let result = attempt()
            if next(device, after: result, attempts: &attempts, connectionBroke: connectionBroke) == .finish { return result }
        }
    }

    /// Counts a transaction going on the line and returns its attempt budget. A device already in
    /// back-off gets one probe, not a round of retries that would hold the line.
    func begin(_ device: Device) -> RetryAttempts {
        let attempts = devices[device]?.isBackingOff == true ? 1 : 1 + max(0, config.retries)
        status.update(lineDevice(device)) { bus, device in
            bus.transactions += 1
            device.transactions += 1
        }
        return RetryAttempts(left: attempts)
    }

    /// Counts one attempt's outcome and says whether to try again. No reply or a garbled one is
    /// retried while attempts are left; an error reply means the device is alive; a port or
    /// connection failure is retried once at once when `connectionBroke` says an open connection
    /// broke (a TCP server dropping an idle client, a USB adapter re-enumerated), rather than
    /// failing a poll for it.
    mutating func next<Output, Failure: BusError>(
        _ device: Device, after result: Result<Output, Failure>, attempts: inout RetryAttempts,
        connectionBroke: (Failure) -> Bool
    ) -> RetryStep {
        guard case let .failure(error) = result else {
            answered(device, success: true)
            return .finish
        }
        status.update { $0.lastError = error.description }
        switch error.kind {
        case let kind where kind.isBadReply:
            if retryAfterBadReply(device, timedOut: kind == .timeout, attemptsLeft: &attempts.left) { return .again }
        case .exception, .meterError:
            answered(device, success: false)
        case .connection:
            if connectionBroke(error) && !attempts.reopened {
                attempts.reopened = true
                return .again
            }
            status.update { $0.connectionErrors += 1 }
        default:
            // Not attempted on the line: queue full, back-off, bus closed, invalid request.
            break
        }
        return .finish
    }

    /// The device answered, with a reply or an exception: it is alive.
    private mutating func answered(_ device: Device, success: Bool) {
        devices[device] = nil
        status.update(lineDevice(device)) { bus, device in
            if success {
                bus.successes += 1
                device.successes += 1
            } else {
                bus.exceptions += 1
                device.exceptions += 1
            }
            device.consecutiveFailures = 0
            device.backoffMs = 0
            device.skipUntilMs = 0
        }
    }

    /// After a timeout or a garbled reply: counts it and says whether to try again.
    private mutating func retryAfterBadReply(_ device: Device, timedOut: Bool, attemptsLeft: inout Int) -> Bool {
        status.update(lineDevice(device)) { bus, device in
            if timedOut {
                bus.timeouts += 1
                device.timeouts += 1
            } else {
                bus.crcErrors += 1
                device.crcErrors += 1
            }
        }
        attemptsLeft -= 1
        if attemptsLeft > 0 {
            status.update { $0.retries += 1 }
            return true
        }
        // Only silence means a dead device; a garbled reply shows something is there.
        if timedOut {
            devices[device, default: DeviceBackoff(initialMs: UInt64(config.backoffInitialMs),
                                                   maxMs: UInt64(max(config.backoffInitialMs, config.backoffMaxMs)))]
                .recordFailure(now: now())
            if let backoff = devices[device] {
                status.update(lineDevice(device)) { _, device in
                    device.consecutiveFailures = backoff.consecutiveFailures
                    device.backoffMs = backoff.intervalMs
                    device.skipUntilMs = backoff.skipUntilMs
                }
            }
        }
        return false
    }
}

/// What is left of one transaction's attempts.
struct RetryAttempts {
    fileprivate var left: Int
    /// The connection was reopened once already for this transaction.
    fileprivate var reopened = false
}

/// What `RetryLedger.next` says to do after an attempt.
enum RetryStep: Equatable {
    case again, finish
}

/// The silence a serial line needs between frames (3.5 characters on RS-485), 0 when none.
struct InterFrameSilence {
    let microseconds: UInt64
    private var lastFrameEndUs: UInt64 = 0

    init(microseconds: UInt64) { self.microseconds = microseconds }

    /// Sleeps until the line has been silent long enough since the last frame.
    func keep() {
        guard microseconds > 0, lastFrameEndUs > 0 else { return }
        let elapsed = MonotonicClock.nowUs() &- lastFrameEndUs
        if elapsed < microseconds { DedicatedThread.sleep(microseconds: microseconds - elapsed) }
    }

    mutating func frameEnded() { lastFrameEndUs = MonotonicClock.nowUs() }
}
