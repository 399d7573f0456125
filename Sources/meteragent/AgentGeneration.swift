import MeterAgent
import MeterCore
import MeterCrypto
import MeterDrivers
import MeterStore

/// What `meteragent run` builds from one site config on the store, which outlives it: the poller
/// and its buses, local cost control, the card readers, and the uplink with its command service.
/// A config reload stops one and starts the next (`ConfigReloader`).
final class AgentGeneration: RunningSite {
    struct Options: Sendable {
        var pollIntervalMs: Int?
        /// Commands the uplink hands over to the reloader (signed `config.apply`).
        var remoteConfig: (@Sendable (SignedCommand, Int64) -> Void)?
        /// The process's first site answers the commands the last run left unfinished.
        var isFirst = true
    }

    let site: SiteConfig
    private let scheduler: PollScheduler
    private let prepaid: PrepaidService
    private let cards: CardService?
    private let cardTask: Task<Void, Never>?
    private let uplink: Uplink<OutboxStore>?
    private let polling: Task<Void, Never>
    private let log: Log

    private init(site: SiteConfig, scheduler: PollScheduler, prepaid: PrepaidService, cards: CardService?,
                 cardTask: Task<Void, Never>?, uplink: Uplink<OutboxStore>?, polling: Task<Void, Never>, log: Log) {
        self.site = site
        self.scheduler = scheduler
        self.prepaid = prepaid
        self.cards = cards
        self.cardTask = cardTask
        self.uplink = uplink
        self.polling = polling
        self.log = log
    }

    static func start(site: SiteConfig, outbox: RunStore, options: Options, liveness: Liveness, log: Log) async throws(AgentError) -> AgentGeneration {
        let scheduler = try PollScheduler(site: site, log: log)
        // Local cost control reads its accounts before the first poll and the first command.
        let prepaid = PrepaidService(site: site, store: outbox.store, drivers: { scheduler.driver(for: $0) }, log: log)
        await prepaid.start()
        // The card authorization list: read once, then changed only by `authlist.update`.
        let authorizations = await CardAuthorizations.load(from: outbox.store, log: log)
        await loadCryptoIfNeeded(site, log: log)
        // The uplink starts next to the poller: a broker that is unreachable now is normal, the
        // readings wait in the store.
        let uplink = site.mqtt.map { mqtt in
            Uplink.start(config: mqtt, gatewayID: site.gatewayID, version: MeterAgentVersion.current, outbox: outbox.store, log: log) { topics, wake in
                CommandService(gate: CommandGate(site: site, signatures: Ed25519Signatures()), drivers: { scheduler.driver(for: $0) },
                               store: outbox.store, topics: topics, log: log, prepaid: prepaid, authorizations: authorizations,
                               resultStored: wake, remoteConfig: options.remoteConfig, answersInterrupted: options.isFirst)
            }
        }
        // Card readers decide from the local list whatever the uplink does.
        let cards = site.readers.isEmpty ? nil : CardService(
            site: site, drivers: site.readers.map(makeCardReaderDriver), meters: { scheduler.driver(for: $0) }, store: outbox.store,
            authorizations: authorizations, prepaid: prepaid.isEmpty ? nil : prepaid, log: log)
        let cardTask = cards.map { service in Task { await service.run() } }
        liveness.siteChanged(expectsPolls: !site.devices.isEmpty)
        let sink = outbox.storeSink
        let interval = options.pollIntervalMs
        // Held back only while records really leave the store: a broker that takes the connection
        // but acknowledges nothing is an outage too.
        let backPressure = uplink.map { uplink in
            StoreBackPressure(fill: outbox.store.fill, uplinkDraining: {
                uplink.session.isConnected && uplink.forwarder.statistics.acknowledged(withinMs: 10_000)
            }, log: log)
        }
        let polling = Task {
            if prepaid.isEmpty {
                await scheduler.run(sink: sink, intervalOverrideMs: interval, liveness: liveness, backPressure: backPressure)
            } else {
                await scheduler.run(sink: PrepaidSink(inner: sink, prepaid: prepaid), intervalOverrideMs: interval, liveness: liveness,
                                    backPressure: backPressure)
            }
        }
        return AgentGeneration(site: site, scheduler: scheduler, prepaid: prepaid, cards: cards,
                               cardTask: cardTask, uplink: uplink, polling: polling, log: log)
    }

    /// Signed commands need libcrypto: opened here, off Swift's pool, rather than by the first
    /// command's signature check; without it the agent runs on and refuses every command. Card ids
    /// hashed with the site's key need it too (without it they are masked, never clear).
    private static func loadCryptoIfNeeded(_ site: SiteConfig, log: Log) async {
        let hashesCardIDs = !site.readers.isEmpty && site.cards.idPrivacy == .hash
        guard !site.commands.keys.isEmpty || hashesCardIDs else { return }
        do throws(CryptoError) {
            try await CryptoLibrary.loadOffPool()
        } catch {
            let lost = (site.commands.keys.isEmpty ? [] : ["signed commands will be refused"])
                + (hashesCardIDs ? ["card ids will be masked, not hashed"] : [])
            log.error(lost.joined(separator: "; ") + ": libcrypto cannot be loaded", ["error": error.description])
        }
    }

    func health() -> ConfigHealth {
        // A device answered when one of its polls gave a good reading (what `status` shows too).
        let answered = site.devices.map(\.id).filter { (scheduler.pollState(of: $0)?.goodPolls ?? 0) > 0 }
        return ConfigHealth(site: site, busStatistics: scheduler.busStatistics, answered: Set(answered))
    }

    var maintenanceWindowOpen: Bool { !(cards?.openWindows.isEmpty ?? true) }

    func wakeUplink() { uplink?.forwarder.wake() }

    /// What `meteragent status` reads of this site, the store and the process.
    func statusSources(outbox: RunStore, startedMs: Int64) -> StatusSources {
        StatusSources(site: site, version: MeterAgentVersion.current, scheduler: scheduler, store: outbox.store,
                      storeSink: outbox.storeSink, uplink: uplink, cards: cards, startedMs: startedMs)
    }

    /// Reverse order of start: poller and its buses, card readers, forwarder and session (offline
    /// status), then what cost control still holds. The store stays open.
    func stop() async {
        polling.cancel()
        await polling.value
        // The next config may open the same ports: only once these are closed.
        await scheduler.closed()
        cardTask?.cancel()
        await cardTask?.value
        await uplink?.stop()
        await prepaid.flush()
    }
}
