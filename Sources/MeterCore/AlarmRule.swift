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
}
