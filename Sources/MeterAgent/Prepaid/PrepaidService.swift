import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterStore
import Synchronization

/// Local cost control (`cost_control: {mode: local, …}`) for the devices that run it: keeps their
/// accounts (`PrepaidLedger`) in memory and in the store, charges each poll's reading of the
/// metered register, stores the events, cuts and restores the supply through the device's driver
/// ahead of polling (`BusPriority.command`, as head-end commands, with read-back), and carries out
/// `credit.add` and `tariff.set`.
///
/// Every operation on one device runs under that device's lock, from the change of its account to
/// the commit in the store (and the cut or restore it leads to): a poll and a credit never
/// interleave on one account. A credit's new balance, its events and the command's result commit
/// in one transaction (`OutboxStore.completeCommand(id:result:account:events:)`), so a credit is
/// applied exactly when its result is stored: a re-delivered command is answered from the command
/// log and never credits twice, and a crash before the commit leaves no trace of it (the command
/// is answered `interrupted`, and the head-end may send a new one).
public final class PrepaidService: Sendable {
    final class Device: Sendable {
        let config: DeviceConfig
        let settings: LocalCostControl
        let lock = AsyncLock()
        /// nil until `start` has read the store (or when it could not).
        let ledger = Mutex<PrepaidLedger?>(nil)

        init(config: DeviceConfig, settings: LocalCostControl) {
            self.config = config
            self.settings = settings
        }
    }

    private let devices: [DeviceID: Device]
    private let store: OutboxStore
    private let drivers: @Sendable (DeviceID) -> (any MeterDriver)?
    private let log: Log
    private let localMs: @Sendable (Int64) -> Int64
    private let now: @Sendable () -> Int64
    /// Whether the last save failed (logged once per failing stretch).
    private let failing = Mutex(false)
    /// Told when the supply of a device was cut for lack of credit (the card service ends its session).
    private let cutObservers = Mutex<[@Sendable (DeviceID) -> Void]>([])

    /// `localMs` turns UTC into the gateway's local time (time-of-use periods); `now` is the clock
    /// of events and results. Both injectable for tests.
    public init(site: SiteConfig, store: OutboxStore, drivers: @escaping @Sendable (DeviceID) -> (any MeterDriver)?, log: Log,
                localMs: @escaping @Sendable (Int64) -> Int64 = PrepaidCharge.localMs,
                now: @escaping @Sendable () -> Int64 = WallClock.nowMs) {
        var devices: [DeviceID: Device] = [:]
        for device in site.devices {
            if let settings = device.costControl?.local { devices[device.id] = Device(config: device, settings: settings) }
        }
        self.devices = devices
        self.store = store
        self.drivers = drivers
        self.log = log
        self.localMs = localMs
        self.now = now
    }

    /// Calls `observer` whenever the supply of a device was cut for lack of credit.
    public func onSupplyCut(_ observer: @escaping @Sendable (DeviceID) -> Void) {
        cutObservers.withLock { $0.append(observer) }
    }

    /// No device runs local cost control.
    public var isEmpty: Bool { devices.isEmpty }

    /// Reads the accounts from the store; opens (and saves) an account with `initial_balance` for
    /// a device it has never seen. Returns false when the store cannot be read: then no device is
    /// charged, cut or credited (their commands fail) rather than start again from
    /// `initial_balance`.
    @discardableResult
    public func start() async -> Bool {
        guard !devices.isEmpty else { return true }
        let rows: [PrepaidAccountRow]
        do {
            rows = try await store.prepaidAccounts()
        } catch {
            log.error("local cost control is off: the prepaid accounts cannot be read", ["error": error.description])
            return false
        }
        let stored = Dictionary(rows.map { ($0.device, $0) }, uniquingKeysWith: { a, _ in a })
        var ok = true
        // Accounts of devices the store has never seen, saved together.
        var opening: [(device: Device, pending: PendingSave)] = []
        for (id, device) in devices.sorted(by: { $0.key < $1.key }) {
            let at = now()
            let supply = device.config.profile.supplyActions
            if let row = stored[id.rawValue] {
                guard let account = PrepaidAccount(row: row) else {
                    log.error("prepaid account not readable; the device is not charged", ["device.id": id.rawValue, "balance": row.balance])
                    ok = false
                    continue
                }
                let ledger = PrepaidLedger(device: id, settings: device.settings, protected: device.config.protected,
                                           supplyActions: supply, account: account, nowMs: at)
                device.ledger.withLock { $0 = ledger }
                log.info("prepaid account", ["device.id": id.rawValue, "balance": account.balance.description,
                                             "disconnected": String(account.disconnected)])
            } else {
                let (ledger, step) = PrepaidLedger.opening(device: id, settings: device.settings, protected: device.config.protected,
                                                           supplyActions: supply, nowMs: at)
                opening.append((device, PendingSave(ledger: ledger, events: step.events, at: at)))
            }
        }
        guard !opening.isEmpty else { return ok }
        var saves = opening.map(\.pending)
        await save(&saves)
        for (entry, saved) in zip(opening, saves) {
            entry.device.ledger.withLock { $0 = saved.ledger }
            log.info("prepaid account opened", ["device.id": saved.ledger.device.rawValue, "balance": saved.ledger.account.balance.description])
        }
        return ok
    }

    /// Charges the metered register's readings among `readings` (a poll of one or more devices).
    public func observe(_ readings: [Reading]) async {
        // A poll is one device's readings: its account is looked up once (again where the device changes).
        var current: (id: DeviceID, device: Device?)?
        for reading in readings {
            if current?.id != reading.device { current = (reading.device, devices[reading.device]) }
            guard let device = current?.device, reading.point == device.settings.point, reading.quality == .good,
                  let value = reading.value.flatMap(PrepaidCharge.decimal) else { continue }
            await device.lock.withLock {
                guard var ledger = device.ledger.withLock({ $0 }) else { return }
                let step = ledger.observe(value, unit: reading.unit, atMs: reading.timestampMs, localMs: localMs)
                await finish(step, device: device, ledger: &ledger, at: reading.timestampMs)
                device.ledger.withLock { $0 = ledger }
            }
        }
    }

    /// Saves what a step asks to save, then carries out the supply change it asks for (and saves
    /// its outcome).
    private func finish(_ step: PrepaidLedger.Step, device: Device, ledger: inout PrepaidLedger, at: Int64) async {
        if step.persist { await save(&ledger, step.events, at: at) }
        guard let change = step.supply else { return }
        let outcome = await changeSupply(change, device: device)
        if change == .disconnect, outcome.outcome.succeeded {
            for observer in cutObservers.withLock({ $0 }) { observer(device.config.id) }
        }
        let at = now()
        let after = ledger.supplyChanged(change, action: outcome.action, outcome: outcome.outcome, atMs: at)
        await save(&ledger, after.events, at: at)
    }

    /// An account to write with the events of the change (`at`: when it changed).
    private struct PendingSave {
        var ledger: PrepaidLedger
        var events: [PrepaidEvent]
        var at: Int64
    }

    /// Writes the account with `events` (and any a failed save left over).
    private func save(_ ledger: inout PrepaidLedger, _ events: [PrepaidEvent], at: Int64) async {
        var saves = [PendingSave(ledger: ledger, events: events, at: at)]
        await save(&saves)
        ledger = saves[0].ledger
    }

    /// Writes the accounts with their events (and any a failed save left over) in one transaction.
    private func save(_ saves: inout [PendingSave]) async {
        for event in saves.lazy.flatMap(\.events) {
            if event.isWarning { log.warning("prepaid", event.logMetadata) } else { log.info("prepaid", event.logMetadata) }
        }
        do {
            try await store.savePrepaid(saves.map { $0.ledger.row(updatedMs: $0.at) },
                                        events: saves.flatMap { ($0.ledger.unsavedEvents + $0.events).map(\.record) })
            for index in saves.indices { saves[index].ledger.saved(atMs: saves[index].at) }
            if failing.withLock({ let was = $0; $0 = false; return was }) {
                log.info("prepaid accounts are saved again")
            }
        } catch {
            for index in saves.indices { saves[index].ledger.saveFailed(saves[index].events) }
            if !failing.withLock({ let was = $0; $0 = true; return was }) {
                log.error("prepaid account not saved; retrying with the next change", ["device.id": saves[0].ledger.device.rawValue,
                                                                                      "error": error.description])
            }
        }
    }

    /// Cuts or restores the supply through the profile's action, ahead of polling, read back.
    private func changeSupply(_ change: PrepaidLedger.SupplyChange, device: Device) async -> (action: String, outcome: CommandOutcome) {
        let id = device.config.id
        guard let actions = device.config.profile.supplyActions else {
            return ("-", CommandOutcome(device: id, command: .relayOpen, status: .unsupported, message: "the profile cannot cut the supply"))
        }
        let action = change == .disconnect ? actions.disconnect : actions.reconnect
        guard let command = device.config.profile.actions[action]?.fixedCommand else {
            return (action.rawValue, CommandOutcome(device: id, command: .relayOpen, status: .unsupported,
                                                    message: "the profile's \(action.rawValue) takes a parameter"))
        }
        guard let driver = drivers(id) else {
            return (action.rawValue, CommandOutcome(device: id, command: command, status: .failed, message: "the device has no driver"))
        }
        let now = self.now
        let outcome = await BusPriority.command { await driver.execute(command, now: now) }
        return (action.rawValue, outcome)
    }

    // MARK: - Commands

    /// What `carryOut` applies: the gate's plan of a `credit.add` or a `tariff.set`.
    public enum Operation: Sendable, Hashable {
        case credit(ExactDecimal)
        case tariff(Tariff)
    }

    /// Carries out `credit.add` or `tariff.set` (the gate checked the parameters) and stores its
    /// result together with the account: fills in `result` and returns it, with whether it was
    /// stored (when not, the command stays unfinished in the command log and is answered
    /// `interrupted` at the next start; nothing was applied).
    public func carryOut(_ command: SignedCommand, _ operation: Operation, result: CommandResult) async -> (CommandResult, stored: Bool) {
        var result = result
        guard let device = devices[DeviceID(command.device)] else {
            result.status = .rejected
            result.reason = .unsupportedAction
            result.message = "device '\(command.device)' has no local cost control"
            result.finishedMs = now()
            return (result, await complete(command.id, result, account: nil, events: []))
        }
        return await device.lock.withLock {
            guard var ledger = device.ledger.withLock({ $0 }) else {
                result.status = .failed
                result.reason = .notConfirmed
                result.message = "local cost control is not running for this device: its account could not be read from the store"
                result.finishedMs = now()
                return (result, await complete(command.id, result, account: nil, events: []))
            }
            let at = now()
            var changed = ledger
            let step: PrepaidLedger.Step
            switch operation {
            case let .credit(amount):
                switch changed.credit(amount, atMs: at, command: command.id) {
                case let .failure(refused):
                    result.status = .rejected
                    result.reason = .badParams
                    result.message = refused.message
                    result.finishedMs = now()
                    return (result, await complete(command.id, result, account: nil, events: []))
                case let .success(credited):
                    step = credited
                    result.message = "credit \(amount) added; balance \(changed.account.balance)"
                }
            case let .tariff(tariff):
                step = changed.setTariff(tariff, atMs: at, command: command.id)
                result.message = "tariff \(tariff.json) applies from the next reading; balance \(changed.account.balance)"
            }
            if step.supply == .reconnect { result.message += "; reconnecting (see the credit.reconnect event)" }
            result.status = .done
            result.observed = [Reading(device: device.config.id, point: PrepaidEvent.balancePoint, value: .decimal(changed.account.balance),
                                       unit: "", timestampMs: at, quality: .good, billing: false)]
            result.finishedMs = now()
            for event in step.events { log.info("prepaid", event.logMetadata) }
            let events = changed.unsavedEvents + step.events
            guard await complete(command.id, result, account: changed.row(updatedMs: at), events: events) else {
                return (result, false)
            }
            changed.saved(atMs: at)
            ledger = changed
            if step.supply != nil {
                var follow = step
                follow.persist = false
                await finish(follow, device: device, ledger: &ledger, at: at)
            }
            device.ledger.withLock { $0 = ledger }
            return (result, true)
        }
    }

    /// Stores a command's result (with the account and events when given) in one transaction; a
    /// few tries, as the command service does for its own results.
    private func complete(_ id: String, _ result: CommandResult, account: PrepaidAccountRow?, events: [PrepaidEvent]) async -> Bool {
        let failure = await withStoreRetries { () throws(StoreError) in
            _ = try await store.completeCommand(id: id, result: result.record, account: account, events: events.map(\.record))
        }
        if let failure {
            log.error("command result not stored; the command was not applied", ["command.id": id, "error": failure.description])
            return false
        }
        return true
    }

    /// Saves consumption that is not saved yet (at shutdown, before the store closes).
    public func flush() async {
        for device in devices.values {
            await device.lock.withLock {
                guard var ledger = device.ledger.withLock({ $0 }), ledger.hasUnsavedChanges else { return }
                await save(&ledger, [], at: now())
                device.ledger.withLock { $0 = ledger }
            }
        }
    }

    /// The balance of a device (for tests and the technician's tools); nil without an account.
    public func account(_ device: DeviceID) -> PrepaidAccount? {
        devices[device]?.ledger.withLock { $0?.account }
    }
}
