import MeterCore
import MeterProtocols
import MeterStore

/// What local cost control tells the head-end on `<prefix>/events` (class-0 event records, in the
/// shape of the other events: `type`, `ts`, `device` first). Amounts are JSON numbers with the
/// exact decimal digits.
///
/// - `{"type":"credit.balance","ts":…,"device":"flat-1","balance":41.3,"previous":42.41,"reason":"consumption"}`;
///   `reason` is `initial` (a new account), `consumption`, `credit` (with `"amount":10,"command":"c-17"`)
///   or `tariff` (with `"tariff":{"flat":0.59},"command":"c-18"`).
/// - `{"type":"alarm.raised","ts":…,"device":"flat-1","point":"credit.balance","alarm":"credit.low","value":9.41,"threshold":10}`
///   and `alarm.cleared`; `alarm` is `credit.low` (at or below `low_credit`) or `credit.exhausted`
///   (at or below zero on a device the agent may not cut: `protected`).
/// - `{"type":"credit.disconnect","ts":…,"device":"flat-1","action":"relay.open","status":"done","balance":-0.02,
///   "message":"…","observed":{"relay.state":false}}` and `credit.reconnect`; `status` is `done` (read
///   back) or `failed` (tried again later, with back-off).
/// - `{"type":"credit.rebaseline","ts":…,"device":"flat-1","point":"energy.import.total","previous":1234.5,
///   "reading":0.2,"unit":"kWh","reason":"backwards"}`: the register went backwards (a replaced
///   meter) or jumped beyond what can be charged (`reason":"unchargeable"`); nothing is charged.
public struct PrepaidEvent: Sendable, Hashable {
    public enum BalanceReason: String, Sendable, Hashable {
        case initial, consumption, credit, tariff
    }

    public enum Kind: Sendable, Hashable {
        case balance(BalanceReason, balance: ExactDecimal, previous: ExactDecimal?, amount: ExactDecimal? = nil,
                     tariff: Tariff? = nil, command: String? = nil)
        case alarm(raised: Bool, alarm: String, balance: ExactDecimal, threshold: ExactDecimal)
        case supply(disconnect: Bool, action: String, done: Bool, balance: ExactDecimal, message: String, observed: [Reading])
        case rebaseline(point: PointName, previous: ExactDecimal, reading: ExactDecimal, unit: String, reason: String)
    }

    public static let lowCreditAlarm = "credit.low"
    public static let exhaustedAlarm = "credit.exhausted"
    /// The point name alarms and results give the balance.
    public static let balancePoint = PointName("credit.balance")

    public var device: DeviceID
    public var timestampMs: Int64
    public var kind: Kind

    public init(device: DeviceID, timestampMs: Int64, kind: Kind) {
        self.device = device
        self.timestampMs = timestampMs
        self.kind = kind
    }

    public var type: String {
        switch kind {
        case .balance: "credit.balance"
        case let .alarm(raised, _, _, _): raised ? MeterEvent.alarmRaisedType : MeterEvent.alarmClearedType
        case let .supply(disconnect, _, _, _, _, _): disconnect ? "credit.disconnect" : "credit.reconnect"
        case .rebaseline: "credit.rebaseline"
        }
    }

    /// An alarm in the form of the site config's threshold alarms (the balance as the point).
    private var alarmEvent: MeterEvent? {
        guard case let .alarm(raised, alarm, balance, threshold) = kind else { return nil }
        let value = MeterValue.decimal(balance)
        return MeterEvent(device: device, point: Self.balancePoint, timestampMs: timestampMs,
                          kind: raised ? .alarmRaised(alarm: alarm, value: value, threshold: threshold)
                              : .alarmCleared(alarm: alarm, value: value, threshold: threshold))
    }

    public var json: String {
        if let alarmEvent { return alarmEvent.json }
        var w = JSONWriter(capacity: 192)
        w.raw("{\"type\":"); w.string(type)
        w.raw(",\"ts\":"); w.integer(timestampMs)
        w.raw(",\"device\":"); w.string(device.rawValue)
        switch kind {
        case let .balance(reason, balance, previous, amount, tariff, command):
            w.raw(",\"balance\":"); w.raw(balance.description)
            if let previous { w.raw(",\"previous\":"); w.raw(previous.description) }
            w.raw(",\"reason\":"); w.string(reason.rawValue)
            if let amount { w.raw(",\"amount\":"); w.raw(amount.description) }
            if let tariff { w.raw(",\"tariff\":"); w.raw(tariff.json) }
            if let command { w.raw(",\"command\":"); w.string(command) }
        case .alarm:
            break // written by `MeterEvent` above
        case let .supply(_, action, done, balance, message, observed):
            w.raw(",\"action\":"); w.string(action)
            w.raw(",\"status\":"); w.string(done ? "done" : "failed")
            w.raw(",\"balance\":"); w.raw(balance.description)
            w.raw(",\"message\":"); w.string(message)
            if !observed.isEmpty {
                w.raw(",\"observed\":")
                w.pointValues(observed)
            }
        case let .rebaseline(point, previous, reading, unit, reason):
            w.raw(",\"point\":"); w.string(point.rawValue)
            w.raw(",\"previous\":"); w.raw(previous.description)
            w.raw(",\"reading\":"); w.raw(reading.description)
            w.raw(",\"unit\":"); w.string(unit)
            w.raw(",\"reason\":"); w.string(reason)
        }
        w.raw("}")
        return w.text
    }

    /// The class-0 outbox record that carries it to `<prefix>/events`.
    public var record: OutboxRecord {
        .event(json: json, ts: timestampMs)
    }

    /// For the agent's log line.
    public var logMetadata: LogMetadata {
        var metadata: LogMetadata = ["device.id": device.rawValue, "event": type]
        switch kind {
        case let .balance(reason, balance, _, amount, _, command):
            metadata.append("reason", reason.rawValue)
            metadata.append("balance", balance.description)
            if let amount { metadata.append("amount", amount.description) }
            if let command { metadata.append("command.id", command) }
        case let .alarm(_, alarm, balance, threshold):
            metadata.append("alarm", alarm)
            metadata.append("balance", balance.description)
            metadata.append("threshold", threshold.description)
        case let .supply(_, action, done, balance, message, _):
            metadata.append("action", action)
            metadata.append("status", done ? "done" : "failed")
            metadata.append("balance", balance.description)
            metadata.append("message", message)
        case let .rebaseline(point, previous, reading, _, reason):
            metadata.append("point", point.rawValue)
            metadata.append("previous", previous.description)
            metadata.append("reading", reading.description)
            metadata.append("reason", reason)
        }
        return metadata
    }

    /// Alarms and cuts are what an operator must see; balance changes are routine.
    public var isWarning: Bool {
        switch kind {
        case let .alarm(raised, _, _, _): raised
        case let .supply(_, _, done, _, _, _): !done
        case .rebaseline: true
        case .balance: false
        }
    }
}
