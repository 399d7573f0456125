import MeterCore
import MeterStore
import Synchronization

/// What `meteragent run` builds from one site config on top of the store, which outlives it (the
/// poller and its buses, local cost control, card readers, the uplink and its command service).
public protocol RunningSite: Sendable {
    var site: SiteConfig { get }
    /// Whether every bus opened and enough devices answered since it started.
    func health() -> ConfigHealth
    /// A technician's badge holds a maintenance window open at one of its readers.
    var maintenanceWindowOpen: Bool { get }
    /// A result or event waits in the store: publish it now rather than at the next poll.
    func wakeUplink()
    /// Stops polling, readers and uplink; what they queued is in the store's queue.
    func stop() async
}

/// Takes new site configs into use while the agent runs — from `meteragent config apply`, SIGHUP
/// or a signed remote config — one at a time: validate, stop the running site, start the new one,
/// and give it `apply.health_deadline_s` to prove itself (every bus open, enough devices
/// answering). A config that passes is written to the config file and the history; one that fails
/// is stopped and the previous config runs again (the file keeps or gets back the previous text).
/// Both outcomes are events. The store is never closed: a reload loses no buffered record.
public final class ConfigReloader: Sendable {
    /// Builds and starts the running site of a config; it gets the reloader to hand signed remote
    /// configs back to it.
    public typealias Starter = @Sendable (SiteConfig, ConfigReloader) async throws(AgentError) -> any RunningSite

    struct Running: Sendable {
        var text: String
        var site: SiteConfig
        var generation: (any RunningSite)?
    }

    private let configPath: String
    private let profilesDirectory: String?
    private let store: OutboxStore
    private let log: Log
    private let start: Starter
    /// Status lines for systemd.
    private let status: @Sendable (String) -> Void
    private let lock = AsyncLock()
    private let running: Mutex<Running>
    private let stopping = Atomic(false)
    private let checkInterval: Duration

    /// `text` and `site`: the config the agent starts with, as read from `configPath`.
    public init(configPath: String, profilesDirectory: String?, text: String, site: SiteConfig, store: OutboxStore, log: Log,
                checkInterval: Duration = .milliseconds(200), status: @escaping @Sendable (String) -> Void = { _ in },
                start: @escaping Starter) {
        self.configPath = configPath
        self.profilesDirectory = profilesDirectory
        self.store = store
        self.log = log
        self.start = start
        self.status = status
        self.checkInterval = checkInterval
        running = Mutex(Running(text: text, site: site, generation: nil))
    }

    public var site: SiteConfig { running.withLock { $0.site } }
    public var history: ConfigHistory { ConfigHistory(configPath: configPath, keep: site.apply.keep) }

    /// Starts the first site; records it in the history when the history's newest entry is another config.
    public func begin() async throws(AgentError) {
        let (text, site) = running.withLock { ($0.text, $0.site) }
        let generation = try await start(site, self)
        running.withLock { $0.generation = generation }
        let newest = history.entries().last
        if newest.map({ readTextFile($0.path) != text }) ?? true {
            await settle(file: nil, history: text, outcome: .applied, origin: "start")
        }
    }

    /// No more applies: one under way ends at once (rolled back in the file, nothing restarted).
    /// Called first when the agent stops, so that a control request waiting for an apply ends too.
    public func beginShutdown() { stopping.store(true, ordering: .relaxed) }

    /// Stops the running site for good (a reload that is under way finishes first).
    public func shutdown() async {
        beginShutdown()
        await lock.withLock {
            let generation = running.withLock { state -> (any RunningSite)? in
                defer { state.generation = nil }
                return state.generation
            }
            await generation?.stop()
        }
    }

    /// The running site (nil only while a reload swaps it, or after shutdown).
    public var current: (any RunningSite)? { running.withLock { $0.generation } }

    /// SIGHUP: the config file as it is on disk now.
    public func reloadFromFile() async -> ConfigApplyOutcome {
        guard let text = readTextFile(configPath) else {
            return ConfigApplyOutcome(status: .rejected, reason: .invalidConfig, message: "cannot read \(configPath)")
        }
        return await apply(text, origin: .signal)
    }

    /// Validates `text`, and when it is a permitted change, runs it through the health check.
    public func apply(_ text: String, origin: ConfigOrigin) async -> ConfigApplyOutcome {
        let outcome = await lock.withLock { await self.applyLocked(text, origin: origin) }
        var metadata: LogMetadata = ["origin": origin.name, "status": outcome.status.rawValue]
        if let reason = outcome.reason { metadata.append("reason", reason.rawValue) }
        metadata.append("message", outcome.message)
        if outcome.status == .applied || outcome.status == .unchanged { log.info("config", metadata) } else { log.warning("config", metadata) }
        return outcome
    }

    private func applyLocked(_ text: String, origin: ConfigOrigin) async -> ConfigApplyOutcome {
        guard !stopping.load(ordering: .relaxed) else {
            return ConfigApplyOutcome(status: .rejected, reason: .stopping, message: "the agent is stopping")
        }
        let (oldText, oldSite, oldGeneration) = running.withLock { ($0.text, $0.site, $0.generation) }
        if let uid = origin.localUser, oldSite.apply.local == .windowOrRoot, uid != 0, oldGeneration?.maintenanceWindowOpen != true {
            return ConfigApplyOutcome(status: .rejected, reason: .notPermitted,
                                      message: "this site takes a local config only from root or while a technician's maintenance window is open (present a badge)")
        }
        let newSite: SiteConfig
        switch await validate(text, origin: origin) {
        case let .rejected(outcome):
            // A config file edited by hand that does not load must not stay there for the next
            // start to fail on: the running config goes back in, the edit into the history.
            if origin == .signal { await settle(file: oldText, history: text, outcome: .rejected, origin: origin.name) }
            return outcome
        case let .valid(site): newSite = site
        }
        let changes = SiteDiff(from: oldSite, to: newSite).lines
        if text == oldText, oldGeneration != nil {
            return ConfigApplyOutcome(status: .unchanged, message: "this config already runs")
        }
        guard newSite.store == oldSite.store else {
            return ConfigApplyOutcome(status: .rejected, reason: .needsRestart,
                                      message: "the store section changed; the store stays open across a reload, so this config needs a restart of the agent",
                                      changes: changes)
        }
        status("applying a new config (\(origin.name))")
        await oldGeneration?.stop()
        running.withLock { $0.generation = nil }

        let generation: any RunningSite
        do {
            generation = try await start(newSite, self)
        } catch {
            return await rollBack(text, to: oldText, oldSite, origin: origin, changes: changes, failed: nil, reason: .startFailed,
                                  message: error.description)
        }
        if let (reason, message) = await healthCheck(generation, deadlineSeconds: newSite.apply.healthDeadlineSeconds) {
            return await rollBack(text, to: oldText, oldSite, origin: origin, changes: changes, failed: generation, reason: reason,
                                  message: message)
        }
        running.withLock { $0 = Running(text: text, site: newSite, generation: generation) }
        let entry = await settle(file: text, history: text, outcome: .applied, origin: origin.name)
        let outcome = ConfigApplyOutcome(status: .applied, message: generation.health().summary, changes: changes,
                                         historyNumber: entry?.number)
        await record(outcome, origin: origin, generation: generation)
        status("polling \(newSite.devices.count) devices (config applied)")
        return outcome
    }

    /// Stops the config that failed (if it started), starts the previous one again and puts its
    /// text back in the file; kept in the history as rolled back.
    private func rollBack(_ text: String, to oldText: String, _ oldSite: SiteConfig, origin: ConfigOrigin, changes: [String],
                          failed: (any RunningSite)?, reason: ConfigApplyOutcome.Reason, message: String) async -> ConfigApplyOutcome {
        await failed?.stop()
        var restored: (any RunningSite)?
        if !stopping.load(ordering: .relaxed) {
            do {
                restored = try await start(oldSite, self)
            } catch {
                // Nothing polls now; `text == oldText` no longer counts as unchanged, so the same config can be applied again.
                log.error("the previous config does not start again", ["error": error.description])
            }
        }
        running.withLock { $0.generation = restored }
        // The file must not keep a config that failed: the next start would run it.
        let entry = await settle(file: oldText, history: text, outcome: .rolledBack, origin: origin.name)
        let outcome = ConfigApplyOutcome(status: .rolledBack, reason: reason, message: "rolled back to the previous config: \(message)",
                                         changes: changes, historyNumber: entry?.number)
        await record(outcome, origin: origin, generation: restored)
        status("polling (config rolled back)")
        return outcome
    }

    /// Writes `file` to the config file when it holds something else, and keeps `text` in the
    /// history as `outcome` from `origin` — off Swift's pool: both flush to flash.
    @discardableResult
    private func settle(file: String?, history text: String, outcome: ConfigHistory.Outcome, origin: String) async -> ConfigHistory.Entry? {
        let (configPath, keep, log) = (self.configPath, site.apply.keep, self.log)
        return await DedicatedThread.run(onCancel: nil) { () -> ConfigHistory.Entry? in
            if let file, readTextFile(configPath) != file {
                do throws(FileWriteError) { try AtomicFile.replace(configPath, with: file) } catch {
                    log.error("config file not written", ["path": configPath, "error": error.description])
                }
            }
            do throws(FileWriteError) {
                return try ConfigHistory(configPath: configPath, keep: keep).record(text, outcome: outcome, origin: origin, nowMs: WallClock.nowMs())
            } catch {
                log.warning("config history not written", ["error": error.description])
                return nil
            }
        }
    }

    /// Loads `text` as the config file would be loaded (profiles, relative key files) by writing it
    /// beside the config file first; errors name the origin and line:column.
    private enum Validation {
        case valid(SiteConfig)
        case rejected(ConfigApplyOutcome)
    }

    /// Off Swift's pool: the profiles are read from flash.
    private func validate(_ text: String, origin: ConfigOrigin) async -> Validation {
        let (configPath, profilesDirectory) = (self.configPath, self.profilesDirectory)
        let loaded = await DedicatedThread.run(onCancel: Result<SiteConfig, ConfigErrors>.failure(ConfigErrors([]))) {
            Result { () throws(ConfigErrors) in try SiteConfigLoader.load(text: text, asIfAt: configPath, profilesDirectory: profilesDirectory) }
        }
        switch loaded {
        case let .success(site):
            return .valid(site)
        case let .failure(error):
            let shownAs: String
            switch origin {
            case .local, .rollback, .signal: shownAs = configPath
            case let .remote(id): shownAs = "remote config \(id)"
            }
            // Errors in the config name the origin; those in profiles name the profile.
            let lines = error.errors.map { e -> String in
                var shown = e
                if shown.location.file == configPath { shown.location.file = shownAs }
                return shown.description
            }
            return .rejected(ConfigApplyOutcome(status: .rejected, reason: .invalidConfig, message: lines.joined(separator: "\n")))
        }
    }

    /// Nil when the site passed within the deadline; else why not.
    private func healthCheck(_ generation: any RunningSite, deadlineSeconds: Int) async -> (ConfigApplyOutcome.Reason, String)? {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(deadlineSeconds)
        while true {
            let health = generation.health()
            if health.passed { return nil }
            if stopping.load(ordering: .relaxed) { return (.stopping, "the agent was told to stop during the health check (\(health.summary))") }
            if clock.now >= deadline { return (.healthCheckFailed, "health check failed after \(deadlineSeconds) s: \(health.summary)") }
            try? await Task.sleep(for: checkInterval)
        }
    }

    /// A signed `config.apply` from the head-end (checked and claimed by the command service):
    /// applied like any config, answered on `<prefix>/cmd/result` with the outcome.
    public func applyRemote(_ command: SignedCommand, receivedMs: Int64) async {
        let started = WallClock.nowMs()
        let text = command.params?["yaml"]?.scalar ?? ""
        let outcome = await apply(text, origin: .remote(commandID: command.id))
        var result = CommandResult(id: command.id, device: command.device, action: command.action, status: .done, reason: nil,
                                   message: outcome.message, receivedMs: receivedMs, startedMs: started, finishedMs: WallClock.nowMs())
        switch outcome.status {
        case .applied, .unchanged: break
        case .rolledBack: result.status = .failed
        case .rejected: result.status = .rejected
        }
        result.reason = outcome.reason.flatMap { CommandReason(rawValue: $0.rawValue) }
        result.config = outcome
        let record = result.record
        let failure = await withStoreRetries { () throws(StoreError) in _ = try await store.completeCommand(id: command.id, result: record) }
        if let failure { log.error("config result not stored", ["command.id": command.id, "error": failure.description]) }
        current?.wakeUplink()
    }

    /// Answers the control socket's `apply` request (`config apply`, `config rollback`):
    /// `{"request":"apply","yaml":"…"[,"rollback":"true"]}` → `{"ok":true,"status":…,"text":…}`.
    public func handleApply(_ request: ControlRequest) async -> String {
        guard let yaml = request.string("yaml") else { return ControlRequest.failure("apply: 'yaml' (the site config) is missing") }
        // Without the kernel's word on the sender, treat it as an unprivileged user.
        let uid = request.peerUID ?? UInt32.max
        let outcome = await apply(yaml, origin: request.string("rollback") == "true" ? .rollback(uid: uid) : .local(uid: uid))
        return "{\"ok\":true,\"path\":" + JSONWriter.quoted(configPath) + ",\"text\":" + JSONWriter.quoted(outcome.text) + ","
            + String(outcome.json.dropFirst())
    }

    private func record(_ outcome: ConfigApplyOutcome, origin: ConfigOrigin, generation: (any RunningSite)?) async {
        let now = WallClock.nowMs()
        guard let json = outcome.event(origin: origin, at: now) else { return }
        let failure = await withStoreRetries { () throws(StoreError) in _ = try await store.append([.event(json: json, ts: now)]) }
        if let failure { log.error("config event not stored", ["error": failure.description]) }
        generation?.wakeUplink()
    }
}
