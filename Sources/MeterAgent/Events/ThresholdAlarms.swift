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
        var active = false
        /// When the value was first seen past the threshold (in the window) without a break.
        var pastSinceMs: Int64?
    }

    private var trackers: [Tracker]
    private let localSeconds: @Sendable (Int64) -> Int64

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
        var events: [MeterEvent] = []
        for reading in readings where reading.quality == .good {
            guard let value = reading.value else { continue }
            let number = value.doubleValue
            for index in trackers.indices where trackers[index].rule.point == reading.point {
                if let event = step(&trackers[index], value: value, number: number, reading: reading) {
                    events.append(event)
                }
            }
        }
        return events
    }

    private func step(_ tracker: inout Tracker, value: MeterValue, number: Double, reading: Reading) -> MeterEvent? {
        let rule = tracker.rule
        if tracker.active {
            guard rule.isClear(number) else { return nil }
            tracker.active = false
            return MeterEvent(device: reading.device, point: reading.point, timestampMs: reading.timestampMs,
                              kind: .alarmCleared(alarm: rule.name, value: value, threshold: rule.clearThreshold))
        }
        guard rule.isPast(number), rule.window.map({ $0.contains(minuteOfDay: minuteOfDay(reading.timestampMs)) }) ?? true else {
            tracker.pastSinceMs = nil
            return nil
        }
        let since = tracker.pastSinceMs ?? reading.timestampMs
        tracker.pastSinceMs = since
        guard reading.timestampMs - since >= Int64(rule.holdMs) else { return nil }
        tracker.active = true
        tracker.pastSinceMs = nil
        return MeterEvent(device: reading.device, point: reading.point, timestampMs: reading.timestampMs,
                          kind: .alarmRaised(alarm: rule.name, value: value, threshold: rule.threshold))
    }

    private func minuteOfDay(_ utcMs: Int64) -> Int {
        let seconds = localSeconds(utcMs)
        let ofDay = ((seconds % 86_400) + 86_400) % 86_400
        return Int(ofDay / 60)
    }
}
