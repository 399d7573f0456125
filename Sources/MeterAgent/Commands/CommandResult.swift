import MeterCore
import MeterProtocols
import MeterStore

/// What the head-end gets on `<prefix>/cmd/result` (inside the forwarder's batch), e.g.
/// `{"type":"command.result","id":"c-17","device":"flat-301","action":"relay.open","status":"done",
///   "message":"trip: relay open","observed":{"relay.open":true},"received_ms":…,"started_ms":…,"finished_ms":…}`
/// and, when it was not done, `"reason":"expired"` (see `CommandReason`).
public struct CommandResult: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        /// Carried out and confirmed by reading the device back (or, for `read.now`, read).
        case done
        /// Refused by the gateway's checks; nothing was sent to a meter.
        case rejected
        /// Tried, but not confirmed: the meter refused, did not answer, or reads back another state.
        case failed
    }

    public var id: String?
    public var device: String?
    public var action: String?
    public var status: Status
    public var reason: CommandReason?
    public var message: String
    /// The state read back after the command (or the readings of `read.now`).
    public var observed: [Reading] = []
    /// `esam.forward`: the meter's raw replies, one per frame sent, e.g.
    /// `"replies":[{"control":"83","data":"FF000007…"},{"control":"DC","data":"0200","error":"error word 0002: MAC check failed"}]`.
    public var replies: [ForwardedReply] = []
    /// `config.apply`: what became of the config (`"config":{"status":"applied","changes":[…],"config":12}`).
    public var config: ConfigApplyOutcome?
    public var receivedMs: Int64
    public var startedMs: Int64?
    public var finishedMs: Int64

    public init(id: String?, device: String?, action: String?, status: Status, reason: CommandReason?, message: String,
                observed: [Reading] = [], receivedMs: Int64, startedMs: Int64? = nil, finishedMs: Int64) {
        self.id = id
        self.device = device
        self.action = action
        self.status = status
        self.reason = reason
        self.message = message
        self.observed = observed
        self.receivedMs = receivedMs
        self.startedMs = startedMs
        self.finishedMs = finishedMs
    }

    public static func rejected(_ reason: CommandReason, _ message: String, id: String?, command: SignedCommand? = nil,
                                receivedMs: Int64, now: Int64) -> CommandResult {
        CommandResult(id: id ?? command?.id, device: command?.device, action: command?.action, status: .rejected, reason: reason,
                      message: message, receivedMs: receivedMs, finishedMs: now)
    }

    /// A command the agent was running when it stopped: never run again, its outcome unknown.
    static func interrupted(id: String, command: SignedCommand? = nil, receivedMs: Int64, now: Int64) -> CommandResult {
        CommandResult(id: id, device: command?.device, action: command?.action, status: .failed, reason: .interrupted,
                      message: "the agent stopped while this command was running; it is not run again (read the device to see its state)",
                      receivedMs: receivedMs, finishedMs: now)
    }

    public var json: String {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"type\":\"command.result\"")
        if let id { w.raw(",\"id\":"); w.string(id) }
        if let device { w.raw(",\"device\":"); w.string(device) }
        if let action { w.raw(",\"action\":"); w.string(action) }
        w.raw(",\"status\":"); w.string(status.rawValue)
        if let reason { w.raw(",\"reason\":"); w.string(reason.rawValue) }
        w.raw(",\"message\":"); w.string(message)
        if !observed.isEmpty {
            w.raw(",\"observed\":")
            w.pointValues(observed)
        }
        if !replies.isEmpty {
            w.raw(",\"replies\":[")
            for (index, reply) in replies.enumerated() {
                if index > 0 { w.raw(",") }
                w.raw("{\"control\":"); w.string(Hex.byte(reply.control))
                w.raw(",\"data\":"); w.string(Hex.compact(reply.data))
                if let error = reply.error { w.raw(",\"error\":"); w.string(error) }
                w.raw("}")
            }
            w.raw("]")
        }
        if let config { w.raw(",\"config\":"); w.raw(config.json) }
        w.raw(",\"received_ms\":"); w.integer(receivedMs)
        if let startedMs { w.raw(",\"started_ms\":"); w.integer(startedMs) }
        w.raw(",\"finished_ms\":"); w.integer(finishedMs)
        w.raw("}")
        return w.text
    }

    /// The class-0 outbox record that carries it to `<prefix>/cmd/result`.
    public var record: OutboxRecord {
        OutboxRecord(kind: .commandResult, priority: RecordPriority.critical, createdMs: finishedMs, payload: json)
    }

    /// The result of a command that arrived again, from what the command log stored: the same
    /// result, marked as a repeat so the head-end does not count it twice.
    static func repeated(_ stored: String) -> String {
        guard stored.hasSuffix("}") else { return stored }
        return String(stored.dropLast()) + ",\"repeated\":true}"
    }
}
