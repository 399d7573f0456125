#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import Dispatch
import MeterAgent
import MeterCore
import MeterCrypto
import MeterDrivers
import Synchronization

struct Run: Command {
    static let spec = CommandSpec(
        "run",
        abstract: "Poll every device of a site on its schedule.",
        discussion: """
        Readings are committed to the outbox (the site's store, or --store) one batch per flush interval, \
        and written as JSON lines on stdout with --stdout or when the site has no mqtt section. Log lines \
        go to stderr; --verbose logs the sequence numbers of every stored batch (stored seq=FIRST..LAST). \
        Stops on SIGINT or SIGTERM: the transactions in flight finish, what is queued is committed, the \
        offline status is published, the store closes; a stop that takes longer than --stop-timeout \
        ends the process with exit code 6 (records reported stored are in the store regardless). \
        Under systemd (Type=notify, $NOTIFY_SOCKET) it reports READY=1 once it polls, STATUS lines and \
        STOPPING=1, and with WatchdogSec ($WATCHDOG_USEC) pets the watchdog every half of it as long as \
        device polls complete and the store answers: a stuck agent is restarted. SIGHUP reloads the config file, and \
        a signed config.apply on <prefix>/config applies a new one: either runs only if it passes its health check \
        (the site's apply section), else the previous config runs again.
        """,
        parameters: SiteArguments.parameters + [
            .option("duration", help: "Stop after this many seconds (default: run until stopped)."),
            .option("poll-interval-ms", value: "ms",
                    help: "Poll every device at this interval instead of its configured one (0: back to back, for benchmarks)."),
            .flag("once", help: "Read every device once, print the cycle time on stderr, and exit."),
            .flag("verbose", help: "Log every poll at debug level."),
            .option("store", value: "path", help: "Outbox database to use instead of the site's store.path."),
            .option("stop-timeout", value: "seconds", default: "20",
                    help: "Longest a stop on SIGTERM/SIGINT may take before the process exits anyway."),
            .flag("stdout", help: "Also print readings as JSON lines on stdout (the default when the site has no mqtt section)."),
        ] + ControlSocketOption.parameters
    )

    let site: SiteArguments
    let duration: Double?
    let pollIntervalMs: Int?
    let once: Bool
    let verbose: Bool
    let store: String?
    let stopTimeout: Double
    let alsoStdout: Bool
    let control: ControlSocketOption

    init(_ values: ParsedValues) throws(ValidationError) {
        site = try SiteArguments(values)
        duration = try values.optional("duration")
        pollIntervalMs = try values.optional("poll-interval-ms")
        once = values.flag("once")
        verbose = values.flag("verbose")
        store = try values.optional("store")
        stopTimeout = try values.value("stop-timeout")
        alsoStdout = values.flag("stdout")
        control = try ControlSocketOption(values)
    }

    func validate() throws {
        if let pollIntervalMs, pollIntervalMs < 0 { throw ValidationError("--poll-interval-ms must be 0 or more") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be more than 0 seconds") }
        if stopTimeout <= 0 { throw ValidationError("--stop-timeout must be more than 0 seconds") }
    }

    func run() async throws {
        let site = try self.site.load()
        let log = Log.console(minimum: verbose ? .debug : .info)
        if once {
            let scheduler: PollScheduler
            do {
                scheduler = try PollScheduler(site: site, log: log)
            } catch {
                throw fail(error.description, Exit.invalidConfig)
            }
            let elapsed = await scheduler.runOnce(sink: JSONLinesSink())
            scheduler.close()
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            log.info("cycle complete", ["devices": String(site.devices.count), "elapsed_ms": TextFormat.fixed(ms, 1)])
            return
        }
        let startedMs = WallClock.nowMs()
        // The control socket first: a second agent for the site stops here, before it touches the store, buses or broker.
        let controlServer = try await claimControlSocket(log: log)
        // systemd's notify socket and watchdog (nothing happens without $NOTIFY_SOCKET); the
        // watchdog is petted only while polls complete and the store answers.
        let notifier = ServiceNotifier(log: log)
        let liveness = Liveness(expectsPolls: !site.devices.isEmpty)
        let outbox = try await RunStore.open(site: site, path: store, alsoStdout: alsoStdout || site.mqtt == nil, log: log,
                                             liveness: liveness)
        let options = AgentGeneration.Options(pollIntervalMs: pollIntervalMs)
        let started = Mutex(false)
        let reloader = ConfigReloader(
            configPath: self.site.config, profilesDirectory: self.site.profileOptions.profiles, text: readTextFile(self.site.config) ?? "",
            site: site, store: outbox.store, log: log, status: { notifier.status($0) }
        ) { site, reloader throws(AgentError) in
            var options = options
            options.isFirst = started.withLock { first in defer { first = true }; return !first }
            options.remoteConfig = { command, receivedMs in Task { await reloader.applyRemote(command, receivedMs: receivedMs) } }
            return try await AgentGeneration.start(site: site, outbox: outbox, options: options, liveness: liveness, log: log)
        }
        do {
            try await reloader.begin()
        } catch {
            await controlServer?.stop()
            await outbox.finish()
            throw fail(error.description, Exit.invalidConfig)
        }
        // `meteragent status` (and the other control requests) from here until the stop.
        if let controlServer {
            controlServer.handleStatus {
                (reloader.current as? AgentGeneration)?.statusSources(outbox: outbox, startedMs: startedMs)
            }
            // `scan` and `commission` ask before they touch a line.
            controlServer.handle("uses_port") { PortGuard.reply(to: $0, site: reloader.site) }
            // An apply may take the longest health deadline a config can set, and stopping and starting.
            controlServer.handle("apply", timeoutMs: 3_700_000) { await reloader.handleApply($0) }
            do throws(ControlSocketError) { try controlServer.start() } catch { log.error(error.description) }
        }
        // Ready: the store is open, the buses and the uplink started, the poller runs.
        let busCount = Set(site.devices.map(\.bus)).count
        notifier.ready(status: "polling \(site.devices.count) devices on \(busCount) buses")
        let watchdog = ServiceWatchdog(notifier: notifier, liveness: liveness, site: { reloader.site }, intervalOverrideMs: pollIntervalMs,
                                       log: log)
        if let watchdog {
            log.info("systemd watchdog on", ["interval_ms": String(Int(watchdog.interval / .milliseconds(1))),
                                             "stall_limit_ms": String(Int(watchdog.stallLimit / .milliseconds(1)))])
        }
        let watchdogTask = watchdog.map { w in Task { await w.run() } }
        let stopTimeout = self.stopTimeout
        // The run ends at the first of: SIGINT/SIGTERM, --duration.
        let (stopRequests, requestStop) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let signals = [SIGINT, SIGTERM].map { signo -> DispatchSourceSignal in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo)
            source.setEventHandler {
                log.info("stopping", ["signal": String(signo)])
                notifier.stopping(status: "stopping (signal \(signo))")
                requestStop.yield("signal")
                // A bounded stop: whatever hangs (a dead broker, a stuck disk), the process ends.
                DispatchQueue.global().asyncAfter(deadline: .now() + stopTimeout) {
                    log.error("stop did not finish in time; exiting", ["stop_timeout_s": TextFormat.fixed(stopTimeout, 1)])
                    usleep(200_000)  // the log line leaves through the console's writer thread
                    _exit(Exit.stopTimedOut.rawValue)
                }
            }
            source.resume()
            return source
        }
        // SIGHUP: the config file again, through the same health check and rollback.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler {
            log.info("reloading the config file", ["path": reloader.site.source])
            Task { _ = await reloader.reloadFromFile() }
        }
        hangup.resume()
        let timer = duration.map { seconds in
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                if !Task.isCancelled { requestStop.yield("duration") }
            }
        }
        var reason = "signal"
        for await request in stopRequests {
            reason = request
            break
        }
        timer?.cancel()
        hangup.cancel()
        // An apply under way ends now (and with it a control request that waits for it).
        reloader.beginShutdown()
        await controlServer?.stop()
        signals.forEach { $0.cancel() }
        watchdogTask?.cancel()
        if reason == "duration" { notifier.stopping(status: "stopping (--duration reached)") }
        await reloader.shutdown()
        await outbox.finish()
        log.info("stopped")
    }

    /// The control socket, claimed; nil (and logged) when it cannot be made, since polling matters
    /// more than being asked about it. Another agent answering on it ends this one.
    private func claimControlSocket(log: Log) async throws -> ControlServer? {
        do throws(ControlSocketError) {
            return try await ControlServer.claim(path: control.path, log: log)
        } catch let error where error.inUse {
            throw fail(error.description + "; not starting a second agent", Exit.controlSocketInUse)
        } catch {
            log.error("no control socket: `meteragent status` will not reach this agent", ["error": error.description])
            return nil
        }
    }
}
