import MeterCore
import MeterProtocols
import MeterStore

/// What the card service tells the head-end on `<prefix>/events` (class-0 records, `type` and `ts`
/// first, like every event). `card` is the id as `cards.id_privacy` says (`CardIDFormatter`).
///
/// - `{"type":"card.presented","ts":…,"reader":"bay-1-nfc","card":"hmac:…","decision":"allowed","action":"session.start","role":"customer","device":"bay-1"}`
///   or `"decision":"denied","reason":"unknown"` (`expired`, `not_here`, `no_supply_point`, `busy`).
/// - `{"type":"card.window.opened","ts":…,"reader":"door","card":"…","until_ms":…}` and
///   `card.window.closed` with `"reason"`: `badge` (presented again), `timeout`, `replaced` (another badge).
/// - `{"type":"card.session.started","ts":…,"reader":…,"device":"bay-1","card":…,"point":"energy.import.total","start":1234.56}`:
///   `ts` is when the relay was read back closed; `start` was read just before, with the supply still cut.
/// - `{"type":"card.session","ts":…,"reader":…,"device":…,"card":…,"point":…,"start":1234.56,"end":1236.01,"energy":1.45,
///   "unit":"kWh","started_ms":…,"ended_ms":…,"reason":"card","relay":"done"}`: the whole session, once it ended;
///   `reason` is `card`, `timeout` (`session_max_s`) or `credit` (local cost control cut the supply);
///   `relay` says whether the supply was cut and read back (`done`, `failed`, `by_cost_control`);
///   `start`, `end` or `energy` are absent when the meter could not be read then.
/// - `{"type":"card.session.failed","ts":…,"reader":…,"device":…,"card":…,"message":"…"}`: the relay did not close.
/// - `{"type":"reader.ready","ts":…,"reader":…,"detail":"PN532 v1.6"}` and `{"type":"reader.lost",…,"reason":"…"}`.
public struct CardEvent: Sendable {
    public var type: String
    public var timestampMs: Int64
    /// Fields after `type` and `ts`, in order; values already JSON.
    public var fields: [(String, String)]

    init(_ type: String, _ timestampMs: Int64, _ fields: [(String, String)]) {
        self.type = type
        self.timestampMs = timestampMs
        self.fields = fields
    }

    public var json: String {
        var w = JSONWriter(capacity: 200)
        w.raw("{\"type\":"); w.string(type)
        w.raw(",\"ts\":"); w.integer(timestampMs)
        for (key, value) in fields {
            w.raw(","); w.string(key); w.raw(":"); w.raw(value)
        }
        w.raw("}")
        return w.text
    }

    public var record: OutboxRecord { .event(json: json, ts: timestampMs) }

    /// The log line's metadata (JSON strings unquoted).
    public var logMetadata: LogMetadata {
        var metadata: LogMetadata = ["event": type]
        for (key, value) in fields {
            metadata.append(key, value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 ? String(value.dropFirst().dropLast()) : value)
        }
        return metadata
    }

    static func quoted(_ text: String) -> String { JSONWriter.quoted(text) }
}
