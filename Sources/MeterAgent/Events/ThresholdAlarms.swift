import MeterCore

/// Evaluates one device's threshold alarms (`alarms:` in the site config) on its readings:
/// raises an alarm once when its value has been past the threshold for the rule's hold time
/// (inside its time window, if any), and clears it once when a value comes back to the clear
/// threshold. An active alarm is never raised again until it has cleared.
///
/// Time is the readings' own timestamps, so tests move it by writing readings; the time window is
/// the gateway's local time of day, through `localSeconds` (injected for the same reason).
///
/// State lives in memory only. After a restart every alarm starts inactive: one whose condition
/// still holds is raised again (after its hold time), and one that cleared while the agent was
/// down gets no `alarm.cleared`. A head-end therefore treats the agent's `online` status (with a
/// new `since`) as "active alarms will be raised again" and keeps an alarm raised twice as one.
public struct ThresholdAlarms: Sendable {
    private struct Tracker: Sendable {
        let rule: AlarmRule
        /// `rule.threshold` and `rule.clearThreshold` as doubles, converted once: readings are
        /// compared with them on every poll.
        let threshold: Double
        let clearThreshold: Double
        var active = false
        /// When the value was first seen past the threshold (in the window) without a break.
        var pastSinceMs: Int64?

        init(rule: AlarmRule) {
            self.rule = rule
            threshold = rule.threshold.doubleValue
            clearThreshold = rule.clearThreshold.doubleValue
        }

        /// True when `value` is past the raise threshold (strictly).
        func isPast(_ value: Double) -> Bool {
            rule.direction == .above ? value > threshold : value < threshold
        }

        /// True when `value` is back at the clear threshold or on its far side.
        func isClear(_ value: Double) -> Bool {
            rule.direction == .above ? value <= clearThreshold : value >= clearThreshold
        }
    }

    private var trackers: [Tracker]
    private let localSeconds: @Sendable (Int64) -> Int64
    /// The local minute of day of the last UTC minute a windowed rule asked about: readings of one
    /// poll, and polls less than a minute apart, share one `localSeconds` call.
    private var lastMinute: (utcMinute: Int64, minuteOfDay: Int)?

    /// `localSeconds` turns a UTC timestamp in milliseconds into local seconds since 1970-01-01
    /// 00:00 local time (`LocalClock.localSeconds(utcMs:)` on a gateway).
    public init(rules: [AlarmRule], localSeconds: @escaping @Sendable (Int64) -> Int64) {
        trackers = rules.map { Tracker(rule: $0) }
        self.localSeconds = localSeconds
    }

    public var isEmpty: Bool { trackers.isEmpty }

    /// Names of the alarms that are active now.
    public var active: [String] { trackers.filter(\.active).map(\.rule.name) }

    /// The alarms `readings` (one poll of one device) raise or clear. Readings that are not good
    /// change nothing: a failed read neither clears an alarm nor interrupts a hold time.
    public mutating func observe(_ readings: [Reading]) -> [MeterEvent] {
        if trackers.isEmpty { return [] }
        var events: [MeterEvent] = []
        for reading in readings where reading.quality == .good {
            guard let value = reading.value else { continue }
            // Converted once per reading, and only for a point some rule watches.
            var number: Double?
            for index in trackers.indices where trackers[index].rule.point == reading.point {
                let n = number ?? value.doubleValue
                number = n
                if let event = step(index, value: value, number: n, reading: reading) {
                    events.append(event)
                }
            }
        }
        return events
    }

    private mutating func step(_ index: Int, value: MeterValue, number: Double, reading: Reading) -> MeterEvent? {
        let rule = trackers[index].rule
        if trackers[index].active {
            guard trackers[index].isClear(number) else { return nil }
            trackers[index].active = false
            return MeterEvent(device: reading.device, point: reading.point, timestampMs: reading.timestampMs,
                              kind: .alarmCleared(alarm: rule.name, value: value, threshold: rule.clearThreshold))
        }
        guard trackers[index].isPast(number), rule.window.map({ $0.contains(minuteOfDay: cachedMinuteOfDay(reading.timestampMs)) }) ?? true else {
            trackers[index].pastSinceMs = nil
            return nil
        }
        let since = trackers[index].pastSinceMs ?? reading.timestampMs
        trackers[index].pastSinceMs = since
        guard reading.timestampMs - since >= Int64(rule.holdMs) else { return nil }
        trackers[index].active = true
        trackers[index].pastSinceMs = nil
        return MeterEvent(device: reading.device, point: reading.point, timestampMs: reading.timestampMs,
                          kind: .alarmRaised(alarm: rule.name, value: value, threshold: rule.threshold))
    }

    /// `minuteOfDay`, asked of `localSeconds` once per UTC minute (local offsets are whole minutes).
    private mutating func cachedMinuteOfDay(_ utcMs: Int64) -> Int {
        let utcMinute = utcMs >= 0 ? utcMs / 60_000 : (utcMs + 1) / 60_000 - 1
        if let lastMinute, lastMinute.utcMinute == utcMinute { return lastMinute.minuteOfDay }
        let minute = minuteOfDay(utcMs)
        lastMinute = (utcMinute, minute)
        return minute
    }

    private func minuteOfDay(_ utcMs: Int64) -> Int {
        DailyWindow.minuteOfDay(localMs: localSeconds(utcMs) * 1000)
    }
}
