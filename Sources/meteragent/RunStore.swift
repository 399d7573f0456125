import MeterAgent
import MeterCore
import MeterStore

/// The outbox side of `meteragent run`: the site's store, the sink that batches readings into it
/// (plus JSON lines on stdout when asked), and the task that commits a batch every flush interval.
struct RunStore {
    let store: OutboxStore
    /// What the poller writes to.
    let storeSink: StoreSink
    private let flushing: Task<Void, Never>

    /// Opens `path` (default: the site's `store.path`); a store that cannot be opened ends the run
    /// with exit code 4, since readings could not be kept.
    static func open(site: SiteConfig, path: String?, alsoStdout: Bool, log: Log,
                     liveness: Liveness? = nil) async throws -> RunStore {
        var config = site.store
        if let path { config.path = path }
        let store: OutboxStore
        do {
            store = try await OutboxStore.open(path: config.path, maxBytes: config.maxBytes,
                                               options: StoreOptions(sync: config.sync), log: log)
        } catch {
            throw fail(error.description, Exit.storeUnavailable)
        }
        let stats = try? await store.stats()
        log.info("store open", ["path": config.path, "records": String(stats?.records ?? 0),
                                "next_seq": String(stats?.nextSeq ?? 0), "sync": config.sync.rawValue])
        let storeSink = StoreSink(store: store, flushIntervalMs: config.flushIntervalMs, log: log, echo: alsoStdout,
                                  liveness: liveness)
        return RunStore(store: store, storeSink: storeSink, flushing: Task { await storeSink.run() })
    }

    /// Commits what is still queued, then closes the store (last, after everything that writes to it).
    func finish() async {
        flushing.cancel()
        await flushing.value
        await store.shutdown()
    }
}
