import MeterProtocols

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
    /// A Modbus point written with an engineering value (a relay coil, a load limit), then read back.
    case write(point: PointName, value: ExactDecimal)
    /// DL/T 645 frames' data made by the utility's encryption machine (identity authentication
    /// 0x03, then encrypted control 0x1C), each sent with its control code, in order.
    case esamForward([ESAMBlock])

    /// The command of a DL/T 645 relay-control code N1 (0x1A trip …), nil for an unknown one.
    public static func relay(code: UInt8) -> MeterCommand? {
        switch code {
        case 0x1A: .relayOpen
        case 0x1B: .relayArm
        case 0x1C: .relayClose
        case 0x2A: .alarmOn
        case 0x2B: .alarmOff
        case 0x3A: .keepPower
        case 0x3B: .releaseKeepPower
        default: nil
        }
    }

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
        case let .write(point, _): "write \(point)"
        case .esamForward: "esam.forward"
        }
    }

    public var description: String { action }
}

/// One frame for an ESAM meter as the head-end's encryption machine made it: the control code and
/// the data field as the standard writes it (before the +0x33 of the wire, which the agent adds
/// when it frames the block with the meter's address).
public struct ESAMBlock: Sendable, Hashable {
    public var control: UInt8
    public var data: [UInt8]

    public init(control: UInt8, data: [UInt8]) {
        self.control = control
        self.data = data
    }
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
    /// The meter's replies to forwarded frames (`esam.forward`), in the order the frames went out.
    public var replies: [ForwardedReply] = []

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
