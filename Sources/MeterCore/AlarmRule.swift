import MeterProtocols

/// A threshold alarm on one point of one device (`alarms:` under a device in the site config):
///
///     - {name: gas.pressure.low,  point: pressure,  below: 1.5, clear_above: 1.7}
///     - {name: gas.pressure.high, point: pressure,  above: 3.0, clear_below: 2.8}
///     - {name: water.night_flow,  point: flow.rate, above: 0, for: 2h, between: "00:00-05:00"}
///
/// Raised when a good reading goes strictly past `threshold` (above or below) and stays there
/// for `holdMs`, inside `window` if there is one; cleared when a good reading comes back to
/// `clearThreshold` or beyond it, at any time of day. The gap between the two thresholds is the
/// hysteresis that keeps a value wobbling around the limit from raising the alarm again and again.
public struct AlarmRule: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable {
        case above, below
    }

    /// Unique per device; the `alarm` of its events.
    public var name: String
    public var point: PointName
    public var direction: Direction
    public var threshold: ExactDecimal
    /// `clear_below` of an `above` alarm, `clear_above` of a `below` alarm; the threshold itself
    /// when not written (no hysteresis).
    public var clearThreshold: ExactDecimal
    /// How long the value must stay past the threshold before the alarm is raised (`for:`).
    public var holdMs: Int
    /// Local hours in which the alarm may be raised (`between:`); nil for all day.
    public var window: DailyWindow?

    public init(name: String, point: PointName, direction: Direction, threshold: ExactDecimal,
                clearThreshold: ExactDecimal? = nil, holdMs: Int = 0, window: DailyWindow? = nil) {
        self.name = name
        self.point = point
        self.direction = direction
        self.threshold = threshold
        self.clearThreshold = clearThreshold ?? threshold
        self.holdMs = holdMs
        self.window = window
    }

    /// True when `value` is past the raise threshold (strictly).
    public func isPast(_ value: Double) -> Bool {
        direction == .above ? value > threshold.doubleValue : value < threshold.doubleValue
    }

    /// True when `value` is back at the clear threshold or on its far side.
    public func isClear(_ value: Double) -> Bool {
        direction == .above ? value <= clearThreshold.doubleValue : value >= clearThreshold.doubleValue
    }
}

/// A span of local time of day, `"00:00-05:00"`; it may run past midnight (`"22:00-06:00"`).
public struct DailyWindow: Sendable, Hashable, CustomStringConvertible {
    /// Minutes after local midnight, 0–1439.
    public var startMinute: Int
    /// Minutes after local midnight, 1–1440 (`24:00`); never equal to `startMinute`.
    public var endMinute: Int

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// `HH:MM-HH:MM`, 24-hour, end after start or past midnight; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Self.minutes(parts[0].trimmed, allowMidnightEnd: false),
              let end = Self.minutes(parts[1].trimmed, allowMidnightEnd: true), start != end % 1440 else { return nil }
        self.init(startMinute: start, endMinute: end)
    }

    private static func minutes(_ text: Substring, allowMidnightEnd: Bool) -> Int? {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2, fields.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let hours = Int(fields[0]), let minutes = Int(fields[1]), minutes < 60 else { return nil }
        if hours == 24 && minutes == 0 && allowMidnightEnd { return 1440 }
        return hours < 24 ? hours * 60 + minutes : nil
    }

    /// Whether a local time of day falls in the window: start included, end excluded.
    public func contains(minuteOfDay minute: Int) -> Bool {
        startMinute < endMinute ? (minute >= startMinute && minute < endMinute)
            : (minute >= startMinute || minute < endMinute)
    }

    public var description: String { Self.text(startMinute) + "-" + Self.text(endMinute) }

    private static func text(_ minute: Int) -> String {
        let h = minute / 60, m = minute % 60
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }
}

private extension Substring {
    var trimmed: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
