/// An action on a meter that changes its state, as the head-end and the technician ask for it.
/// Drivers carry it out in their protocol (DL/T 645 0x1C / 0x08, CJ/T 188 valve control, …) and
/// read the state back.
public enum MeterCommand: Sendable, Hashable, CustomStringConvertible {
    /// Disconnect the load (DL/T 645 trip, N1 1A).
    case relayOpen
    /// Reconnect the load directly (DL/T 645 N1 1C).
    case relayClose
    /// Allow the customer to reclose (DL/T 645 N1 1B).
    case relayArm
    /// Pre-trip alarm on / off (DL/T 645 N1 2A / 2B).
    case alarmOn
    case alarmOff
    /// Keep power on whatever the balance (保电, N1 3A) / release it (3B).
    case keepPower
    case releaseKeepPower
    /// Set the meter clock to this UTC+offset calendar time, seconds since the Unix epoch in the
    /// meter's local time zone (meters keep local time).
    case timeSync(localSeconds: Int64)
    /// Water/gas valve (CJ/T 188 A017 55/99).
    case valveOpen
    case valveClose

    /// The head-end's action name (`relay.open`, `valve.close`, `time.sync`).
    public var action: String {
        switch self {
        case .relayOpen: "relay.open"
        case .relayClose: "relay.close"
        case .relayArm: "relay.arm"
        case .alarmOn: "relay.alarm"
        case .alarmOff: "relay.alarm_off"
        case .keepPower: "relay.keep_power"
        case .releaseKeepPower: "relay.release"
        case .timeSync: "time.sync"
        case .valveOpen: "valve.open"
        case .valveClose: "valve.close"
        }
    }

    public var description: String { action }
}

/// What became of a command: whether the meter took it, why not, and the state read back.
public struct CommandOutcome: Sendable, Hashable, CustomStringConvertible {
    public enum Status: Sendable, Hashable {
        /// The meter accepted the command and the read-back shows the wanted state.
        case confirmed
        /// The meter accepted the command; the read-back does not show the state (yet), or there is none.
        case accepted
        /// The meter refused (unauthorised, not allowed by its profile, …).
        case rejected
        /// The command did not reach the meter or got no valid reply.
        case failed
        /// The driver or profile does not support this command.
        case unsupported
    }

    public var device: DeviceID
    public var command: MeterCommand
    public var status: Status
    /// Why, in words a technician understands (`unauthorised: wrong password or level`).
    public var message: String
    /// The failure's quality (`.meterError(4)`, `.timeout`), `.good` when it worked.
    public var quality: Quality
    /// The state read back after the command (`relay.state`, `relay.command`, `valve.state`).
    public var observed: [Reading]

    public init(device: DeviceID, command: MeterCommand, status: Status, message: String = "",
                quality: Quality = .good, observed: [Reading] = []) {
        self.device = device
        self.command = command
        self.status = status
        self.message = message
        self.quality = quality
        self.observed = observed
    }

    public var succeeded: Bool { status == .confirmed || status == .accepted }

    public var description: String {
        var text = "\(device) \(command.action): \(status)"
        if !message.isEmpty { text += " (\(message))" }
        return text
    }
}
