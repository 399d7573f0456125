import MeterProtocols

/// The head-end's action names (DESIGN.md, "Two-way service: commands").
public enum CommandAction: String, Sendable, Hashable, CaseIterable {
    case relayOpen = "relay.open"
    case relayClose = "relay.close"
    case relayArm = "relay.arm"
    case valveClose = "valve.close"
    case valveOpen = "valve.open"
    case loadLimit = "load.limit"
    case creditAdd = "credit.add"
    case tariffSet = "tariff.set"
    case timeSync = "time.sync"
    case readNow = "read.now"
    case esamForward = "esam.forward"
    /// The card authorization list, replaced or changed (a gateway-level action: `device` is the gateway id).
    case authlistUpdate = "authlist.update"

    /// Actions that cut supply: never run remotely on a device marked `protected`.
    public var disconnects: Bool {
        self == .relayOpen || self == .valveClose || self == .loadLimit
    }
}

/// How one meter model carries out a head-end action, from its profile's `actions:` section.
/// The protocol decides which forms are possible: DL/T 645 relay codes, the clock broadcast and
/// ESAM forwarding; CJ/T 188 valve control; Modbus writes to a point of the profile.
public enum ActionMapping: Sendable, Hashable {
    /// DL/T 645 relay control (0x1C) with this command (`.relayOpen` = N1 1A …).
    case relay(MeterCommand)
    /// CJ/T 188 valve control (DI A017).
    case valve(open: Bool)
    /// DL/T 645 broadcast time (0x08), read back from the clock.
    case clockBroadcast
    /// DL/T 645 frames made by the utility's encryption machine, forwarded as they are.
    case esamForward
    /// A Modbus point written with a fixed value (a relay coil), then read back.
    case write(point: PointName, value: ExactDecimal)
    /// A Modbus point written with the command's parameter, within the profile's range.
    case writeParameter(point: PointName, parameter: ActionParameter)
}

/// A numeric command parameter and the range the profile allows (`load.limit` `kw` 0.1–60).
public struct ActionParameter: Sendable, Hashable {
    /// The key in the command's `params`.
    public var name: String
    public var minimum: ExactDecimal
    public var maximum: ExactDecimal
    public var unit: String

    public init(name: String, minimum: ExactDecimal, maximum: ExactDecimal, unit: String = "") {
        self.name = name
        self.minimum = minimum
        self.maximum = maximum
        self.unit = unit
    }

    public func allows(_ value: ExactDecimal) -> Bool {
        value.compare(minimum) >= 0 && value.compare(maximum) <= 0
    }

    /// `0.1–60 kW`, for rejection messages.
    public var rangeText: String { "\(minimum)–\(maximum)" + (unit.isEmpty ? "" : " \(unit)") }
}
