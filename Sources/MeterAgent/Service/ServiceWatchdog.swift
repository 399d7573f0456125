import MeterCore

/// Pets systemd's watchdog (`WATCHDOG=1`) every half `$WATCHDOG_USEC` while `Liveness` says the
/// agent makes progress, and stops petting while it does not, so that systemd kills and restarts
/// a stuck agent. A stall and the recovery from one are logged and shown as the unit's STATUS.
public struct ServiceWatchdog: Sendable {
    public let notifier: ServiceNotifier
    public let liveness: Liveness
    public let interval: Duration
    private let timeout: Duration
    /// The config that runs now (a reload may change its poll intervals).
    private let site: @Sendable () -> SiteConfig
    private let intervalOverrideMs: Int?
    private let log: Log

    /// nil when systemd runs no watchdog for this process.
    public init?(notifier: ServiceNotifier, liveness: Liveness, site: @escaping @Sendable () -> SiteConfig, intervalOverrideMs: Int?,
                 log: Log) {
        guard let interval = notifier.watchdogInterval, let timeout = notifier.watchdogTimeout else { return nil }
        self.notifier = notifier
        self.liveness = liveness
        self.interval = interval
        self.timeout = timeout
        self.site = site
        self.intervalOverrideMs = intervalOverrideMs
        self.log = log
    }

    /// How long without progress counts as a stall, for the config that runs now.
    public var stallLimit: Duration { Self.stallLimit(site: site(), intervalOverrideMs: intervalOverrideMs, watchdogTimeout: timeout) }

    /// At least the watchdog's own timeout, and long enough for the most frequently polled device
    /// to come round three times with a dead meter's timeouts and retries on its line.
    static func stallLimit(site: SiteConfig, intervalOverrideMs: Int?, watchdogTimeout: Duration) -> Duration {
        let shortestMs = site.devices.map { intervalOverrideMs ?? $0.pollIntervalMs }.min() ?? 0
        let slowestReadMs = site.buses.map { $0.timeoutMs * ($0.retries + 1) }.max() ?? 0
        return max(watchdogTimeout, .milliseconds(3 * shortestMs + 2 * slowestReadMs))
    }

    /// Runs until the task is cancelled.
    public func run() async {
        var stalled: String? = nil
        while !Task.isCancelled {
            if let reason = liveness.stall(limit: stallLimit) {
                if stalled == nil {
                    log.error("not petting the watchdog: the agent makes no progress", ["reason": reason])
                    notifier.status("stalled: \(reason)")
                }
                stalled = reason
            } else {
                if stalled != nil {
                    log.info("progress again; petting the watchdog")
                    notifier.status("polling")
                    stalled = nil
                }
                notifier.watchdog()
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}
