#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Dispatch
import MeterAgent
import MeterCore

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Poll every device of a site on its schedule.",
        discussion: "Readings are written as JSON lines on stdout; log lines go to stderr. Stops on SIGINT or SIGTERM."
    )

    @Argument(help: "Site configuration file (YAML).")
    var config: String

    @OptionGroup var profileOptions: ProfileOptions

    @Option(help: "Stop after this many seconds (default: run until stopped).")
    var duration: Double?

    @Option(help: ArgumentHelp("Poll every device at this interval instead of its configured one (0: back to back, for benchmarks).", valueName: "ms"))
    var pollIntervalMs: Int?

    @Flag(help: "Read every device once, print the cycle time on stderr, and exit.")
    var once = false

    @Flag(help: "Log every poll at debug level.")
    var verbose = false

    func validate() throws {
        if let pollIntervalMs, pollIntervalMs < 0 { throw ValidationError("--poll-interval-ms must be 0 or more") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be more than 0 seconds") }
    }

    func run() async throws {
        let site = try loadSite(config, profiles: profileOptions.profiles)
        let log = Log(minimum: verbose ? .debug : .info)
        let scheduler: PollScheduler
        do {
            scheduler = try PollScheduler(site: site, log: log)
        } catch {
            throw fail(error.description, Exit.invalidConfig)
        }
        if once {
            let elapsed = await scheduler.runOnce(sink: JSONLinesSink())
            scheduler.close()
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            log.info("cycle complete", ["devices": String(site.devices.count), "elapsed_ms": TextFormat.fixed(ms, 1)])
            return
        }
        let durationMs = duration.map { Int64($0 * 1000) }
        let polling = Task { await scheduler.run(sink: JSONLinesSink(), durationMs: durationMs, intervalOverrideMs: pollIntervalMs) }
        let signals = [SIGINT, SIGTERM].map { signo -> DispatchSourceSignal in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo)
            source.setEventHandler {
                log.info("stopping", ["signal": String(signo)])
                polling.cancel()
            }
            source.resume()
            return source
        }
        await polling.value
        signals.forEach { $0.cancel() }
        log.info("stopped")
    }
}
