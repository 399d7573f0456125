import MeterProtocols

/// Which part of a CJ/T 188 current-data reply (901F) a point reports.
public enum CJT188Field: String, Sendable, Hashable, CaseIterable {
    /// Current total (4 bytes BCD XXXXXX.XX) with the meter's unit code.
    case current
    /// Total on the last settlement day, with its unit code.
    case settlement
    /// The meter clock as the number YYYYMMDDhhmmss (meter local time).
    case clock
    /// True while the valve bits D0–D1 say open (00).
    case valveOpen = "valve_open"
    /// True when the valve bits say abnormal (11).
    case valveFault = "valve_fault"
    /// True when status bit D2 (battery low) is set.
    case batteryLow = "battery_low"
    /// The whole status word ST, first byte low, as a number (vendor bits included).
    case status
}

/// What a CJ/T 188 profile says beyond its points: the meter type byte, the DI byte order the
/// meter wants, how its clock bytes are laid out, and which reply field each point reports.
public struct CJT188Settings: Sendable, Hashable {
    public var meterType: CJT188MeterType
    /// The order tried first; the driver falls back to the other when the meter stays silent.
    public var diOrder: CJT188DIOrder
    public var clockLayout: CJT188ClockLayout
    public var fields: [PointName: CJT188Field]

    public init(meterType: CJT188MeterType, diOrder: CJT188DIOrder = .highFirst,
                clockLayout: CJT188ClockLayout = .secondsFirst, fields: [PointName: CJT188Field] = [:]) {
        self.meterType = meterType
        self.diOrder = diOrder
        self.clockLayout = clockLayout
        self.fields = fields
    }
}

/// `clock_order:` in a profile.
public enum CJT188ClockOrder: String, Sendable, Hashable, CaseIterable {
    case secondsFirst = "seconds_first"
    case yearFirst = "year_first"

    public var layout: CJT188ClockLayout { self == .secondsFirst ? .secondsFirst : .yearFirst }
}
