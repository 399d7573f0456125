import MeterCore
import MeterProtocols

/// A prepaid device's account: the state the store keeps (see `PrepaidAccountRow`).
public struct PrepaidAccount: Sendable, Hashable {
    public var balance: ExactDecimal
    /// The last reading charged, and when (UTC ms); nil before the first one.
    public var reading: ExactDecimal?
    public var readingMs: Int64?
    /// The agent cut the supply for lack of credit and has not restored it.
    public var disconnected = false
    public var lowCredit = false
    public var exhausted = false
    /// Installed by `tariff.set`; nil: the site config's tariff.
    public var tariffOverride: Tariff?
    /// The balance and time of the last event that told the head-end the balance.
    public var eventBalance: ExactDecimal?
    public var eventMs: Int64?

    public init(balance: ExactDecimal) { self.balance = balance }
}

/// The rules of local cost control for one device, as a state machine that does no I/O: each
/// input (a reading, a credit, a tariff, the outcome of a cut or restore) changes the account and
/// returns the events to store and the supply change to carry out (`Step`). The caller persists
/// and acts; time comes in with every input, so tests move it forward instead of sleeping.
///
/// - Charging: the advance of the metered register between consecutive good readings, priced by
///   `PrepaidCharge`. A register that goes backwards (a replaced meter) is a new baseline with a
///   `credit.rebaseline` event, never a credit.
/// - `credit.low` is raised once at or below `low_credit` and cleared when the balance is above it
///   again; at or below zero the supply is cut (`disconnect`) — or, for a `protected` device, the
///   `credit.exhausted` alarm is raised instead. A credit that brings the balance above zero after
///   the agent cut the supply restores it (`reconnect`). A cut or restore that fails is tried again
///   at the next reading after a back-off (1 min, doubling to 1 h).
/// - Balance events (bounded): on every credit and tariff change, in every alarm and cut/restore
///   event (they carry the balance), and consumption-driven only when the balance has dropped past
///   a whole currency unit since the last balance event *and* `event_interval` (default 15 min) has
///   passed — at most 96 a day per device at the default, one per unit for a slow one.
/// - Persistence: every step with an event, a supply change, a credit or a tariff is saved at once;
///   consumption alone at most once a minute (`persistEveryMs`), to spare the flash. That loses
///   nothing: the balance and the reading it was charged up to are always saved together, so after
///   a `kill -9` the next reading is charged from the saved reading — each advance exactly once.
public struct PrepaidLedger: Sendable {
    public enum SupplyChange: Sendable, Hashable {
        case disconnect, reconnect
    }

    /// What one input produced.
    public struct Step: Sendable {
        public var events: [PrepaidEvent] = []
        public var supply: SupplyChange?
        public var persist = false
    }

    public let device: DeviceID
    public let settings: LocalCostControl
    public let protected: Bool
    /// nil: the profile cannot cut the supply (only allowed for protected devices).
    public let supplyActions: SupplyActions?
    public private(set) var account: PrepaidAccount
    /// Events a failed save left over, saved with the next one (bounded).
    public internal(set) var unsavedEvents: [PrepaidEvent] = []
    private var retry: (change: SupplyChange, atMs: Int64, delayMs: Int64)?
    private var savedMs: Int64
    private var dirty = false

    static let retryFirstMs: Int64 = 60_000
    static let retryMaxMs: Int64 = 3_600_000
    static let persistEveryMs: Int64 = 60_000
    static let maxUnsavedEvents = 64

    public init(device: DeviceID, settings: LocalCostControl, protected: Bool, supplyActions: SupplyActions?,
                account: PrepaidAccount, nowMs: Int64) {
        self.device = device
        self.settings = settings
        self.protected = protected
        self.supplyActions = supplyActions
        self.account = account
        self.savedMs = nowMs
    }

    /// A device the store has never seen: its `initial_balance`, told to the head-end once.
    public static func opening(device: DeviceID, settings: LocalCostControl, protected: Bool, supplyActions: SupplyActions?,
                               nowMs: Int64) -> (PrepaidLedger, Step) {
        var ledger = PrepaidLedger(device: device, settings: settings, protected: protected, supplyActions: supplyActions,
                                   account: PrepaidAccount(balance: settings.initialBalance), nowMs: nowMs)
        var step = Step()
        step.events.append(ledger.balanceEvent(.initial, previous: nil, at: nowMs))
        step.persist = true
        return (ledger, step)
    }

    public var tariff: Tariff { account.tariffOverride ?? settings.tariff }

    // MARK: - Inputs

    /// A good reading of the metered register.
    public mutating func observe(_ value: ExactDecimal, unit: String, atMs: Int64, localMs: (Int64) -> Int64) -> Step {
        var step = Step()
        let baseline = account.reading == nil
        if let last = account.reading, let lastMs = account.readingMs {
            let order = value.compare(last)
            if order < 0 {
                step.events.append(event(.rebaseline(point: settings.point, previous: last, reading: value, unit: unit, reason: "backwards"), at: atMs))
            } else if order > 0 {
                if let advance = value.subtracting(last),
                   let cost = PrepaidCharge.cost(of: advance, fromMs: lastMs, toMs: atMs, tariff: tariff, localMs: localMs),
                   let balance = account.balance.subtracting(cost)?.normalized {
                    account.balance = balance
                    if let event = consumptionEvent(at: atMs) { step.events.append(event) }
                } else {
                    step.events.append(event(.rebaseline(point: settings.point, previous: last, reading: value, unit: unit, reason: "unchargeable"), at: atMs))
                }
            }
        }
        account.reading = value
        account.readingMs = atMs
        dirty = true
        evaluate(at: atMs, into: &step)
        step.persist = baseline || !step.events.isEmpty || step.supply != nil || atMs - savedMs >= Self.persistEveryMs
        return step
    }

    /// `credit.add`: fails (nothing changes) when the balance would leave the allowed range.
    public mutating func credit(_ amount: ExactDecimal, atMs: Int64, command: String) -> Result<Step, CreditRefused> {
        guard let balance = account.balance.adding(amount)?.normalized, balance.compare(LocalCostControl.maxAmount) <= 0 else {
            return .failure(CreditRefused(message: "the balance \(account.balance) plus \(amount) would exceed \(LocalCostControl.maxAmount)"))
        }
        let previous = account.balance
        account.balance = balance
        var step = Step()
        step.events.append(balanceEvent(.credit, previous: previous, amount: amount, command: command, at: atMs))
        // A credit is the head-end's explicit go-ahead: a restore waiting out its back-off runs now.
        retry = nil
        evaluate(at: atMs, into: &step)
        step.persist = true
        return .success(step)
    }

    public struct CreditRefused: Error, Sendable {
        public var message: String
    }

    /// `tariff.set`: applies from the next reading on (the advance since the last reading is
    /// charged at the new tariff); saved, so it survives a restart.
    public mutating func setTariff(_ tariff: Tariff, atMs: Int64, command: String) -> Step {
        account.tariffOverride = tariff
        var step = Step()
        step.events.append(balanceEvent(.tariff, previous: account.balance, tariff: tariff, command: command, at: atMs))
        step.persist = true
        return step
    }

    /// The outcome of a cut or restore the last step asked for (`action` as the profile names it).
    public mutating func supplyChanged(_ change: SupplyChange, action: String, outcome: CommandOutcome, atMs: Int64) -> Step {
        let done = outcome.status == .confirmed
        if done {
            account.disconnected = change == .disconnect
            retry = nil
        } else {
            let delay = retry.map { $0.change == change ? min($0.delayMs * 2, Self.retryMaxMs) : Self.retryFirstMs } ?? Self.retryFirstMs
            retry = (change, atMs + delay, delay)
        }
        var step = Step()
        let message = outcome.message.isEmpty ? "\(outcome.status)" : outcome.message
        step.events.append(event(.supply(disconnect: change == .disconnect, action: action, done: done, balance: account.balance,
                                         message: message, observed: outcome.observed), at: atMs))
        step.persist = true
        return step
    }

    /// The row was saved at `atMs` (with `unsavedEvents`).
    public mutating func saved(atMs: Int64) {
        savedMs = atMs
        dirty = false
        unsavedEvents = []
    }

    /// A save failed: its events wait for the next one (the oldest go when too many wait).
    public mutating func saveFailed(_ events: [PrepaidEvent]) {
        unsavedEvents = Array((unsavedEvents + events).suffix(Self.maxUnsavedEvents))
    }

    /// Consumption not saved yet (saved at shutdown).
    public var hasUnsavedChanges: Bool { dirty || !unsavedEvents.isEmpty }

    // MARK: - Rules

    /// Alarms and the supply after a balance change.
    private mutating func evaluate(at atMs: Int64, into step: inout Step) {
        let balance = account.balance
        let low = balance.compare(settings.lowCredit) <= 0
        if low != account.lowCredit {
            account.lowCredit = low
            step.events.append(event(.alarm(raised: low, alarm: PrepaidEvent.lowCreditAlarm, balance: balance, threshold: settings.lowCredit), at: atMs))
        }
        let empty = balance.signum <= 0
        let mayCut = !protected && supplyActions != nil
        let exhausted = empty && !mayCut
        if exhausted != account.exhausted {
            account.exhausted = exhausted
            step.events.append(event(.alarm(raised: exhausted, alarm: PrepaidEvent.exhaustedAlarm, balance: balance, threshold: .zero), at: atMs))
        }
        let wanted: SupplyChange? = if empty && mayCut && !account.disconnected {
            .disconnect
        } else if !empty && account.disconnected && supplyActions != nil {
            .reconnect
        } else {
            nil
        }
        if let wanted, retry.map({ $0.change != wanted || atMs >= $0.atMs }) ?? true {
            step.supply = wanted
        }
        if wanted == nil { retry = nil }
    }

    /// A balance event when consumption took the balance past a whole currency unit since the last
    /// one and `event_interval` has passed.
    private mutating func consumptionEvent(at atMs: Int64) -> PrepaidEvent? {
        guard let last = account.eventBalance, let lastMs = account.eventMs else {
            return balanceEvent(.consumption, previous: nil, at: atMs)
        }
        guard atMs - lastMs >= settings.eventIntervalMs, let now = account.balance.floorInteger, let before = last.floorInteger,
              now < before else { return nil }
        return balanceEvent(.consumption, previous: last, at: atMs)
    }

    private mutating func balanceEvent(_ reason: PrepaidEvent.BalanceReason, previous: ExactDecimal?, amount: ExactDecimal? = nil,
                                       tariff: Tariff? = nil, command: String? = nil, at atMs: Int64) -> PrepaidEvent {
        event(.balance(reason, balance: account.balance, previous: previous, amount: amount, tariff: tariff, command: command), at: atMs)
    }

    /// Every event carries the balance, so each one counts as the last balance event.
    private mutating func event(_ kind: PrepaidEvent.Kind, at atMs: Int64) -> PrepaidEvent {
        account.eventBalance = account.balance
        account.eventMs = atMs
        return PrepaidEvent(device: device, timestampMs: atMs, kind: kind)
    }
}
