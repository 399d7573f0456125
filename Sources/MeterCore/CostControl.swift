import MeterProtocols

/// Who keeps a prepaid device's balance (`cost_control:` of a device in the site config).
public enum CostControl: Sendable, Hashable {
    /// The agent keeps the balance, charges the metered consumption, raises the low-credit alarm
    /// and cuts and restores the supply itself; `credit.add` and `tariff.set` go to the agent.
    case local(LocalCostControl)
    /// The head-end keeps the balance and decides; the agent only carries out its commands.
    case remote

    public var local: LocalCostControl? {
        if case let .local(settings) = self { return settings }
        return nil
    }
}

/// `cost_control: {mode: local, tariff: {flat: 0.59}, low_credit: 10, initial_balance: 50}`.
public struct LocalCostControl: Sendable, Hashable {
    public var tariff: Tariff
    /// At or below this balance the `credit.low` alarm is raised (once; cleared above it).
    public var lowCredit: ExactDecimal
    /// The balance of a device the store has never seen; afterwards the store's balance counts.
    public var initialBalance: ExactDecimal
    /// The metered register the tariff applies to (a counter that only grows).
    public var point: PointName
    /// The largest single `credit.add`.
    public var maxCredit: ExactDecimal
    /// Consumption-driven balance events: at most one per this interval (and one per whole
    /// currency unit), see `PrepaidLedger`.
    public var eventIntervalMs: Int64

    public static let defaultMaxCredit = ExactDecimal(significand: 10_000, exponent: 0)
    public static let defaultEventIntervalMs: Int64 = 15 * 60_000
    /// No balance, credit or threshold may be larger than this (in magnitude): it keeps the exact
    /// arithmetic far from 64-bit limits whatever the prices' digits.
    public static let maxAmount = ExactDecimal(significand: 1_000_000, exponent: 0)
    /// Money amounts have at most this many decimals, prices at most `priceDigits`.
    public static let amountDigits = 4
    public static let priceDigits = 6
    public static let maxPrice = ExactDecimal(significand: 10_000, exponent: 0)

    public init(tariff: Tariff, lowCredit: ExactDecimal, initialBalance: ExactDecimal, point: PointName,
                maxCredit: ExactDecimal = defaultMaxCredit, eventIntervalMs: Int64 = defaultEventIntervalMs) {
        self.tariff = tariff
        self.lowCredit = lowCredit
        self.initialBalance = initialBalance
        self.point = point
        self.maxCredit = maxCredit
        self.eventIntervalMs = eventIntervalMs
    }

    /// The register charged when the config names none: imported energy for electricity, the
    /// volume counter for water and gas (heat meters have no default: name it).
    public static func defaultPoint(for medium: Medium) -> PointName? {
        switch medium {
        case .electricity: PointName("energy.import.total")
        case .water, .gas: PointName("volume.total")
        case .heat: nil
        }
    }
}

/// How a device's supply is cut and restored: its profile's relay or valve actions.
public struct SupplyActions: Sendable, Hashable {
    public var disconnect: CommandAction
    public var reconnect: CommandAction

    public init(disconnect: CommandAction, reconnect: CommandAction) {
        self.disconnect = disconnect
        self.reconnect = reconnect
    }
}

extension DeviceProfile {
    /// `relay.open`/`relay.close`, else `valve.close`/`valve.open`; nil when the profile has no
    /// complete pair (local cost control of an unprotected device needs one).
    public var supplyActions: SupplyActions? {
        if actions[.relayOpen] != nil, actions[.relayClose] != nil {
            return SupplyActions(disconnect: .relayOpen, reconnect: .relayClose)
        }
        if actions[.valveClose] != nil, actions[.valveOpen] != nil {
            return SupplyActions(disconnect: .valveClose, reconnect: .valveOpen)
        }
        return nil
    }
}

extension ActionMapping {
    /// The meter command of a mapping that takes no parameter (a relay code, a valve, a fixed
    /// write); nil for the others.
    public var fixedCommand: MeterCommand? {
        switch self {
        case let .relay(command): command
        case let .valve(open): open ? .valveOpen : .valveClose
        case let .write(point, value): .write(point: point, value: value)
        case .writeParameter, .clockBroadcast, .esamForward: nil
        }
    }
}
