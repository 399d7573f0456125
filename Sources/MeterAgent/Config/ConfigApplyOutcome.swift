import MeterCore

/// Where a new config came from; also its name in the history.
public enum ConfigOrigin: Sendable, Hashable {
    /// `meteragent config apply` over the control socket, by the user `uid`.
    case local(uid: UInt32)
    /// `meteragent config rollback`: a config of the history again, by the user `uid`.
    case rollback(uid: UInt32)
    /// SIGHUP: the config file as it is on disk now.
    case signal
    /// A signed `config.apply` on `<prefix>/config`.
    case remote(commandID: String)

    /// The user who asked, for a config from the gateway itself.
    var localUser: UInt32? {
        switch self {
        case let .local(uid), let .rollback(uid): uid
        case .signal, .remote: nil
        }
    }

    public var name: String {
        switch self {
        case .local: "local"
        case .rollback: "rollback"
        case .signal: "signal"
        case .remote: "remote"
        }
    }
}

/// What became of a new config, as the technician, the head-end and the events see it.
public struct ConfigApplyOutcome: Sendable, Hashable {
    public enum Status: String, Sendable {
        /// Passed its health check and runs; written to the config file and the history.
        case applied
        /// The same config already runs: nothing was restarted.
        case unchanged
        /// Failed its health check (or did not start): the previous config runs again.
        case rolledBack = "rolled_back"
        /// Refused before anything stopped (invalid, not permitted, needs a restart).
        case rejected
    }

    /// Machine-readable reasons for `rejected` and `rolled_back`.
    public enum Reason: String, Sendable {
        case invalidConfig = "invalid_config"
        /// The `store:` section changed: the store stays open across a reload, so this needs a restart.
        case needsRestart = "needs_restart"
        /// `apply.local: window_or_root`, and neither holds.
        case notPermitted = "not_permitted"
        case healthCheckFailed = "health_check_failed"
        /// The config's buses or drivers could not be set up.
        case startFailed = "start_failed"
        /// The agent was told to stop during the apply.
        case stopping
    }

    public var status: Status
    public var reason: Reason?
    public var message: String
    /// `SiteDiff.lines` from the running config to the new one.
    public var changes: [String] = []
    /// The history entry it was recorded as.
    public var historyNumber: Int?

    public init(status: Status, reason: Reason? = nil, message: String, changes: [String] = [], historyNumber: Int? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
        self.changes = changes
        self.historyNumber = historyNumber
    }

    /// What `config apply` prints: the outcome, the changes, and where it was kept.
    public var text: String {
        var lines = ["\(status.rawValue)" + (reason.map { " (\($0.rawValue))" } ?? "") + ": " + message]
        lines += changes
        if let historyNumber { lines.append("history entry \(historyNumber)") }
        return lines.joined(separator: "\n")
    }

    /// `{"status":"rolled_back","reason":"health_check_failed","message":"…","changes":[…],"config":12}`
    public var json: String {
        var w = JSONWriter(capacity: 256)
        w.raw("{\"status\":"); w.string(status.rawValue)
        if let reason { w.raw(",\"reason\":"); w.string(reason.rawValue) }
        w.raw(",\"message\":"); w.string(message)
        w.raw(",\"changes\":[")
        for (index, line) in changes.enumerated() {
            if index > 0 { w.raw(",") }
            w.string(line)
        }
        w.raw("]")
        if let historyNumber { w.raw(",\"config\":"); w.integer(Int64(historyNumber)) }
        w.raw("}")
        return w.text
    }

    /// The `config.applied` / `config.rolled_back` event (class 0, on `<prefix>/events`).
    func event(origin: ConfigOrigin, at ms: Int64) -> String? {
        let type: String
        switch status {
        case .applied: type = "config.applied"
        case .rolledBack: type = "config.rolled_back"
        case .unchanged, .rejected: return nil
        }
        var w = JSONWriter(capacity: 256)
        w.raw("{\"type\":"); w.string(type)
        w.raw(",\"ts\":"); w.integer(ms)
        w.raw(",\"origin\":"); w.string(origin.name)
        if case let .remote(id) = origin { w.raw(",\"command\":"); w.string(id) }
        let body = json
        w.raw(","); w.raw(String(body.dropFirst()))
        return w.text
    }
}
