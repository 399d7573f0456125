import MeterCore
import MeterDrivers
import MeterIO
import MeterStore
import MeterUplink
import Synchronization

/// Takes the head-end's messages from `<prefix>/cmd` and `<prefix>/config`, runs the checks of
/// `CommandGate`, keeps replay protection in the store's command log, carries commands out through
/// the devices' buses ahead of polling, and answers each with a class-0 result record (published on
/// `<prefix>/cmd/result` by the forwarder, so a result waits out an uplink outage) and an audit log
/// line.
///
/// A command's id is claimed in the store before anything is sent to a meter, and its result is
/// stored in the same transaction as the result record: a re-delivered command gets its stored
/// result again and never runs twice, also after a restart. A command that was running when the
/// agent stopped is answered `interrupted` at the next start, never run again.
public final class CommandService: Sendable {
    private let gate: CommandGate
    private let drivers: @Sendable (DeviceID) -> (any MeterDriver)?
    private let store: OutboxStore
    private let topics: UplinkTopics
    private let log: Log
    /// Called after a result is stored (the forwarder's wake-up).
    private let resultStored: @Sendable () -> Void
    private let limiter = RejectionLimiter()
    /// Commands that may wait for one device; more are answered `device_busy`.
    private let queuePerDevice: Int
    /// Local cost control, which carries out `credit.add` and `tariff.set` (for no device when
    /// none runs it: then the gate plans neither).
    private let prepaid: PrepaidService
    /// The card authorization list `authlist.update` changes (the card service reads the same one).
    private let authorizations: CardAuthorizations
    /// Takes a signed `config.apply` from `<prefix>/config` once it passed the checks and its id is
    /// claimed; it answers it itself (the apply restarts this service). Nil: `not_supported`.
    private let remoteConfig: (@Sendable (SignedCommand, _ receivedMs: Int64) -> Void)?
    /// Whether this service answers what the last run left unfinished: only the first one the
    /// process starts (after a config reload, a claimed command may still be applying).
    private let answersInterrupted: Bool

    public init(gate: CommandGate, drivers: @escaping @Sendable (DeviceID) -> (any MeterDriver)?, store: OutboxStore,
                topics: UplinkTopics, log: Log, queuePerDevice: Int = 8, prepaid: PrepaidService,
                authorizations: CardAuthorizations = CardAuthorizations(), resultStored: @escaping @Sendable () -> Void = {},
                remoteConfig: (@Sendable (SignedCommand, _ receivedMs: Int64) -> Void)? = nil, answersInterrupted: Bool = true) {
        self.gate = gate
        self.answersInterrupted = answersInterrupted
        self.remoteConfig = remoteConfig
        self.authorizations = authorizations
        self.prepaid = prepaid
        self.drivers = drivers
        self.store = store
        self.topics = topics
        self.log = log
        self.queuePerDevice = max(1, queuePerDevice)
        self.resultStored = resultStored
    }

    /// Answers the commands the last run left unfinished, then handles messages until the stream
    /// ends or the task is cancelled; finishes the commands already admitted.
    ///
    /// Each device has one worker and a bounded queue of admitted commands: commands on one meter
    /// run one after the other (their transactions and read-backs never interleave), commands on
    /// different meters at the same time, and a device whose queue is full answers `device_busy`.
    public func run(_ messages: AsyncStream<MQTTMessage>) async {
        if answersInterrupted { await answerInterrupted() }
        await withDiscardingTaskGroup { group in
            var queues: [String: AsyncStream<Admitted>.Continuation] = [:]
            var lastPruneMs = WallClock.nowMs()
            for await message in messages {
                // A gateway runs for years without a restart: expired ids go once an hour.
                if WallClock.nowMs() - lastPruneMs > 3_600_000 {
                    lastPruneMs = WallClock.nowMs()
                    _ = try? await store.pruneCommands(expiredBefore: lastPruneMs / 1000)
                }
                guard let admitted = await admit(message) else { continue }
                let device = admitted.command.device
                let queue: AsyncStream<Admitted>.Continuation
                if let existing = queues[device] {
                    queue = existing
                } else {
                    let (stream, continuation) = AsyncStream.makeStream(of: Admitted.self, bufferingPolicy: .bufferingOldest(queuePerDevice))
                    group.addTask {
                        for await next in stream { await self.carryOut(next) }
                    }
                    queues[device] = continuation
                    queue = continuation
                }
                if case .dropped = queue.yield(admitted) {
                    await answer(.rejected(.deviceBusy, "\(queuePerDevice) commands are already waiting for device '\(device)'",
                                           id: admitted.command.id, command: admitted.command, receivedMs: admitted.receivedMs,
                                           now: WallClock.nowMs()), claimed: true)
                }
            }
            for queue in queues.values { queue.finish() }
        }
    }

    /// A command that passed every check, waiting for its device.
    struct Admitted: Sendable {
        var command: SignedCommand
        var plan: CommandPlan
        var receivedMs: Int64
    }

    /// Checks one message; returns the command to carry out, or nil after answering it.
    func admit(_ message: MQTTMessage) async -> Admitted? {
        let receivedMs = WallClock.nowMs()
        let isConfig = message.topic == topics.config
        guard isConfig || message.topic == topics.commands else { return nil }
        if isConfig, remoteConfig == nil {
            let id = (try? CommandEnvelope(message: message.payload)).flatMap { SignedCommand.unverifiedID($0.payload) }
            await answer(.rejected(.notSupported, "remote configuration is not applied by this agent; use `meteragent config apply` on the gateway",
                                   id: id, receivedMs: receivedMs, now: WallClock.nowMs()), claimed: false)
            return nil
        }
        let command: SignedCommand
        switch gate.authenticate(message.payload, nowSeconds: receivedMs / 1000) {
        case let .failure(rejection):
            await reject(rejection, receivedMs: receivedMs, claimed: false)
            return nil
        case let .success(authenticated):
            command = authenticated
        }
        guard await claim(command, receivedMs: receivedMs) else { return nil }
        if isConfig {
            guard command.action == Self.configAction else {
                await answer(.rejected(.unsupportedAction, "only '\(Self.configAction)' is taken on the config topic", id: command.id,
                                       command: command, receivedMs: receivedMs, now: WallClock.nowMs()), claimed: true)
                return nil
            }
            guard command.device == gate.site.gatewayID else {
                await answer(.rejected(.unknownDevice, "a config is for the gateway: 'device' must be '\(gate.site.gatewayID)'",
                                       id: command.id, command: command, receivedMs: receivedMs, now: WallClock.nowMs()), claimed: true)
                return nil
            }
            guard command.params?["yaml"]?.scalar != nil else {
                await answer(.rejected(.badParams, "params.yaml: the site config as a string is missing", id: command.id,
                                       command: command, receivedMs: receivedMs, now: WallClock.nowMs()), claimed: true)
                return nil
            }
            remoteConfig?(command, receivedMs)
            return nil
        }
        switch gate.plan(command) {
        case let .failure(rejection):
            await reject(rejection, receivedMs: receivedMs, claimed: true)
            return nil
        case let .success(plan):
            return Admitted(command: command, plan: plan, receivedMs: receivedMs)
        }
    }

    /// Runs a checked command on its device and answers with the outcome.
    func carryOut(_ admitted: Admitted) async {
        let command = admitted.command, plan = admitted.plan, receivedMs = admitted.receivedMs
        let started = WallClock.nowMs()
        if case let .authorizations(change) = plan {
            await carryOut(command, change, result: CommandResult(id: command.id, device: command.device, action: command.action, status: .done,
                                                                  reason: nil, message: "", receivedMs: receivedMs, startedMs: started,
                                                                  finishedMs: started))
            return
        }
        guard let driver = drivers(DeviceID(command.device)) else {
            await answer(.rejected(.unknownDevice, "device '\(command.device)' has no driver", id: command.id, command: command,
                                   receivedMs: receivedMs, now: WallClock.nowMs()), claimed: true)
            return
        }
        var result = CommandResult(id: command.id, device: command.device, action: command.action, status: .done, reason: nil,
                                   message: "", receivedMs: receivedMs, startedMs: started, finishedMs: started)
        switch plan {
        case let .read(points):
            let readings = await BusPriority.command { await driver.read(points: points, now: WallClock.nowMs) }
            let failed = readings.filter { $0.quality != .good }
            result.observed = readings
            if failed.isEmpty {
                result.message = "\(readings.count) points read"
            } else {
                result.status = .failed
                result.reason = .noReply
                result.message = "\(failed.count) of \(readings.count) points not read (\(failed[0].point): \(failed[0].quality))"
            }
            await storeReadings(readings, commandID: command.id)
        case let .meter(meterCommand):
            apply(await BusPriority.command { await driver.execute(meterCommand, now: WallClock.nowMs) }, to: &result)
        case let .syncClock(utcSeconds):
            let utcMs = utcSeconds.map { $0 * 1000 } ?? WallClock.nowMs()
            let meterCommand = MeterCommand.timeSync(localSeconds: LocalClock.localSeconds(utcMs: utcMs))
            apply(await BusPriority.command { await driver.execute(meterCommand, now: WallClock.nowMs) }, to: &result)
        case let .credit(amount):
            await carryOut(command, .credit(amount), result: result)
            return
        case let .tariff(tariff):
            await carryOut(command, .tariff(tariff), result: result)
            return
        case .authorizations:
            return
        }
        result.finishedMs = WallClock.nowMs()
        await answer(result, claimed: true)
    }

    /// `credit.add` and `tariff.set`: the balance changes in the same transaction as the result is
    /// stored (PrepaidService).
    private func carryOut(_ command: SignedCommand, _ operation: PrepaidService.Operation, result: CommandResult) async {
        let (final, stored) = await prepaid.carryOut(command, operation, result: result)
        audit(final)
        if stored { resultStored() }
    }

    /// `authlist.update`: the version check, the list and the result commit in one transaction;
    /// the card service sees the new list as soon as it is stored. Not stored: the command stays
    /// unfinished in the command log (answered `interrupted` at the next start) and the list is unchanged.
    private func carryOut(_ command: SignedCommand, _ change: AuthorizationChange, result: CommandResult) async {
        // Written by the store thread inside the transaction, read here once it committed.
        let stored = Mutex<(AuthorizationUpdateOutcome, CommandResult)?>(nil)
        let failure = await withStoreRetries { () throws(StoreError) in
            _ = try await store.completeAuthorizationUpdate(id: command.id, change: change) { outcome in
                let final = Self.authorizationResult(result, outcome, change)
                stored.withLock { $0 = (outcome, final) }
                return final.record
            }
        }
        if let failure {
            log.error("authorization list not changed: its result cannot be stored", ["command.id": command.id, "error": failure.description])
            return
        }
        guard let (outcome, final) = stored.withLock({ $0 }) else { return }
        if case let .applied(list) = outcome { authorizations.install(list) }
        audit(final)
        resultStored()
    }

    private static func authorizationResult(_ result: CommandResult, _ outcome: AuthorizationUpdateOutcome,
                                            _ change: AuthorizationChange) -> CommandResult {
        var final = result
        final.finishedMs = WallClock.nowMs()
        switch outcome {
        case let .applied(list):
            final.message = "authorization list version \(list.version): \(list.cards.count) cards"
        case let .stale(stored):
            (final.status, final.reason) = (.rejected, .staleVersion)
            final.message = "version \(change.version) is not newer than the gateway's list (version \(stored))"
        case let .wrongBase(stored):
            (final.status, final.reason) = (.rejected, .wrongBase)
            final.message = "a delta from version \(change.base ?? 0), but the gateway's list is version \(stored): send the full list, or a delta from \(stored)"
        }
        return final
    }

    private func apply(_ outcome: CommandOutcome, to result: inout CommandResult) {
        result.message = outcome.message
        result.observed = outcome.observed
        result.replies = outcome.replies
        switch outcome.status {
        case .confirmed: result.status = .done
        case .accepted: (result.status, result.reason) = (.failed, .notConfirmed)
        case .rejected: (result.status, result.reason) = (.failed, .meterRefused)
        case .failed: (result.status, result.reason) = (.failed, .noReply)
        case .unsupported: (result.status, result.reason) = (.rejected, .unsupportedAction)
        }
    }

    /// The action of a signed config on `<prefix>/config`; `params.yaml` holds the site config.
    public static let configAction = "config.apply"

    /// Claims the command's id in the store's command log; false when it must not run: the log
    /// cannot be written (no "at most once" without it), or the id was seen before (answered
    /// again with its stored result).
    private func claim(_ command: SignedCommand, receivedMs: Int64) async -> Bool {
        let claim: CommandClaim
        do {
            claim = try await store.claimCommand(id: command.id, expiresAt: command.expiresAt, receivedMs: receivedMs)
        } catch {
            log.error("command not run: the command log cannot be written", ["command.id": command.id, "error": error.description])
            return false
        }
        guard case let .seen(stored) = claim else { return true }
        log.info("command repeated, answering with its stored result", ["command.id": command.id, "device.id": command.device])
        let payload = stored.map(CommandResult.repeated)
            ?? CommandResult.interrupted(id: command.id, command: command, receivedMs: receivedMs, now: WallClock.nowMs()).json
        await store(OutboxRecord(kind: .commandResult, priority: RecordPriority.critical, createdMs: WallClock.nowMs(), payload: payload),
                    completing: nil)
        return false
    }

    private func reject(_ rejection: CommandGate.Rejection, receivedMs: Int64, claimed: Bool) async {
        let result = CommandResult.rejected(rejection.reason, rejection.message, id: rejection.id, command: rejection.command,
                                            receivedMs: receivedMs, now: WallClock.nowMs())
        if rejection.reason.unauthenticated {
            // Anyone who can publish on the topic can cause these: a flood must not fill the store.
            switch limiter.admit(nowMs: receivedMs) {
            case .store(let suppressedBefore):
                if suppressedBefore > 0 {
                    log.warning("unauthenticated commands were not answered", ["count": String(suppressedBefore)])
                }
            case .suppress:
                return
            }
        }
        await answer(result, claimed: claimed)
    }

    /// Stores the result (completing the command log entry when the id was claimed) and writes
    /// the audit log line.
    private func answer(_ result: CommandResult, claimed: Bool) async {
        audit(result)
        await store(result.record, completing: claimed ? result.id : nil)
    }

    /// The audit log line of a result.
    private func audit(_ result: CommandResult) {
        var metadata: LogMetadata = ["command.id": result.id ?? "-", "device.id": result.device ?? "-",
                                     "action": result.action ?? "-", "status": result.status.rawValue]
        if let reason = result.reason { metadata.append("reason", reason.rawValue) }
        if let started = result.startedMs { metadata.append("duration_ms", String(result.finishedMs - started)) }
        for reading in result.observed {
            metadata.append("observed." + reading.point.rawValue, reading.value.map { "\($0)" } ?? "-")
        }
        // Last: it is free text.
        metadata.append("message", result.message)
        if result.status == .done {
            log.info("command", metadata)
        } else {
            log.warning("command", metadata)
        }
    }

    private func store(_ record: OutboxRecord, completing id: String?) async {
        // The result must not be lost while the gateway is alive: a few tries.
        let failure = await withStoreRetries { () throws(StoreError) in
            if let id {
                _ = try await store.completeCommand(id: id, result: record)
            } else {
                _ = try await store.append([record])
            }
        }
        if let failure {
            log.error("command result not stored", ["error": failure.description, "command.id": id ?? "-"])
            return
        }
        resultStored()
    }

    /// `read.now` readings go to the outbox like polled ones, each carrying the command's id.
    private func storeReadings(_ readings: [Reading], commandID: String) async {
        let records = readings.map { reading in
            OutboxRecord(reading: reading, json: "{\"command\":" + JSONWriter.quoted(commandID) + "," + reading.json.dropFirst())
        }
        do {
            _ = try await store.append(records)
        } catch {
            log.error("read.now readings not stored", ["command.id": commandID, "error": error.description])
        }
    }

    private func answerInterrupted() async {
        let ids: [String]
        do {
            ids = try await store.unfinishedCommands()
        } catch {
            log.error("cannot read the command log", ["error": error.description])
            return
        }
        let now = WallClock.nowMs()
        for id in ids {
            await answer(.interrupted(id: id, receivedMs: now, now: now), claimed: true)
        }
        _ = try? await store.pruneCommands(expiredBefore: now / 1000)
    }
}

/// At most `burst` answers to unauthenticated messages per `windowMs`; the rest are counted and
/// only logged, so a flood of forged commands costs neither store space nor uplink traffic.
final class RejectionLimiter: Sendable {
    enum Verdict { case store(suppressedBefore: Int), suppress }

    private struct State {
        var windowStart: Int64 = 0
        var answered = 0
        var suppressed = 0
    }

    private let state: Mutex<State> = Mutex(State())
    let burst: Int
    let windowMs: Int64

    init(burst: Int = 10, windowMs: Int64 = 60_000) {
        self.burst = burst
        self.windowMs = windowMs
    }

    func admit(nowMs: Int64) -> Verdict {
        state.withLock { s in
            if nowMs - s.windowStart >= windowMs {
                s.windowStart = nowMs
                s.answered = 0
            }
            guard s.answered < burst else {
                s.suppressed += 1
                return .suppress
            }
            s.answered += 1
            defer { s.suppressed = 0 }
            return .store(suppressedBefore: s.suppressed)
        }
    }
}
