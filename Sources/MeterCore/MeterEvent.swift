import MeterProtocols

/// Something a meter did that the head-end must hear about, as opposed to what it measured: a
/// state point read back differently (`state.changed`), or a threshold alarm raised or cleared.
/// Events are class 0 records in the outbox (never evicted to make room for readings) and are
/// published on `<prefix>/events`.
public struct MeterEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A profile state (`state: true`, or a named bit of a status word) changed between two
        /// good readings.
        case stateChanged(from: MeterValue, to: MeterValue)
        /// A threshold alarm of the site config: `threshold` is the limit the value crossed.
        case alarmRaised(alarm: String, value: MeterValue, threshold: ExactDecimal)
        /// The value came back past the clear threshold (`threshold`) of an active alarm.
        case alarmCleared(alarm: String, value: MeterValue, threshold: ExactDecimal)
    }

    public static let stateChangedType = "state.changed"
    public static let alarmRaisedType = "alarm.raised"
    public static let alarmClearedType = "alarm.cleared"

    public var device: DeviceID
    /// The point read, or the named bit of a status word.
    public var point: PointName
    /// Milliseconds since the Unix epoch, UTC: the timestamp of the reading that showed it.
    public var timestampMs: Int64
    public var kind: Kind

    public init(device: DeviceID, point: PointName, timestampMs: Int64, kind: Kind) {
        self.device = device
        self.point = point
        self.timestampMs = timestampMs
        self.kind = kind
    }

    public var type: String {
        switch kind {
        case .stateChanged: Self.stateChangedType
        case .alarmRaised: Self.alarmRaisedType
        case .alarmCleared: Self.alarmClearedType
        }
    }

    /// The alarm's name for alarm events, nil for state changes.
    public var alarm: String? {
        switch kind {
        case .stateChanged: nil
        case let .alarmRaised(alarm, _, _), let .alarmCleared(alarm, _, _): alarm
        }
    }

    /// One JSON object in the shape of the store's own events (`type` and `ts` first):
    /// `{"type":"state.changed","ts":1764052800000,"device":"flat-301-gas","point":"valve.fault","from":false,"to":true}`
    /// `{"type":"alarm.raised","ts":…,"device":"gas-1","point":"pressure","alarm":"gas.pressure.low","value":1.42,"threshold":1.5}`
    /// `{"type":"alarm.cleared","ts":…,"device":"gas-1","point":"pressure","alarm":"gas.pressure.low","value":1.75,"threshold":1.7}`
    public var json: String {
        var w = JSONWriter(capacity: 160)
        w.raw("{\"type\":"); w.string(type)
        w.raw(",\"ts\":"); w.integer(timestampMs)
        w.raw(",\"device\":"); w.string(device.rawValue)
        w.raw(",\"point\":"); w.string(point.rawValue)
        switch kind {
        case let .stateChanged(from, to):
            w.raw(",\"from\":"); w.value(from)
            w.raw(",\"to\":"); w.value(to)
        case let .alarmRaised(alarm, value, threshold), let .alarmCleared(alarm, value, threshold):
            w.raw(",\"alarm\":"); w.string(alarm)
            w.raw(",\"value\":"); w.value(value)
            w.raw(",\"threshold\":"); w.raw(threshold.description)
        }
        w.raw("}")
        return w.text
    }

    /// The metadata of the event's log line: `device.id=… point=… from=… to=…`.
    public var logMetadata: LogMetadata {
        var metadata: LogMetadata = ["device.id": device.rawValue, "point": point.rawValue]
        switch kind {
        case let .stateChanged(from, to):
            metadata.append("from", from.description)
            metadata.append("to", to.description)
        case let .alarmRaised(alarm, value, threshold), let .alarmCleared(alarm, value, threshold):
            metadata.append("alarm", alarm)
            metadata.append("value", value.description)
            metadata.append("threshold", threshold.description)
        }
        return metadata
    }
}
