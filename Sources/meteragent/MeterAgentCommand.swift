#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMalloc
import CommandLineKit
import MeterAgent
import MeterCore

@main
struct MeterAgentCommand: CommandNode {
    static let spec = CommandSpec(
        group: "meteragent",
        abstract: "Edge agent for smart-meter gateways: reads electricity, water and gas meters over Modbus RTU/TCP, DL/T 645 and CJ/T 188, stores every reading durably and forwards it over MQTT.",
        discussion: """
        Exit codes: 0 success; 1 a device did not answer or a reading is not good; 2 invalid \
        configuration or profile; 3 a bus or port could not be opened; 4 the store could not be \
        opened; 5 a key file cannot be read, written or used; 6 `run` did not stop within --stop-timeout; 7 no agent answers \
        on the control socket (`status`, `config apply`); 8 another agent answers on the control socket (`run`); 9 the agent \
        rolled a new config back or refused it (`config apply`, `config rollback`); 64 bad command-line usage.
        """,
        version: MeterAgentVersion.current,
        subcommands: [Run.self, Read.self, Probe.self, Commission.self, Ports.self, Plan.self, Config.self, Relay.self, Valve.self, TimeSync.self, Buffer.self,
                      Keys.self, Sign.self, Scan.self, Status.self]
    )

    /// Settles malloc before any other thread allocates (one arena for the whole process), then
    /// runs the command on Swift's thread pool while this thread waits. A synchronous main that
    /// returns spares the process Swift's async main, which parks this thread with `pthread_exit`:
    /// that unwinds the stack through the unwind tables, about 0.4 MB resident for nothing.
    /// A command that fails exits from its task; one that succeeds returns from here.
    static func main() {
        _ = meteragent_malloc_single_arena()
        let finished = WaitableState(false)
        // Detached: a task started here would inherit the main actor, whose thread is about to wait.
        Task.detached {
            let status = await CommandRunner.run(MeterAgentCommand.self, arguments: Array(CommandLine.arguments.dropFirst()))
            if status != 0 { exit(status) }
            finished.withLock { $0 = true }
            finished.broadcast()
        }
        finished.wait(until: { $0 }, then: { _ in })
    }
}

enum MeterAgentVersion {
    static let current = "0.1.0"
}

/// Exit codes scripts can rely on.
enum Exit {
    static let deviceFailed = ExitCode(1)
    static let invalidConfig = ExitCode(2)
    static let busUnavailable = ExitCode(3)
    /// The outbox could not be opened (or read).
    static let storeUnavailable = ExitCode(4)
    /// A key file cannot be read, written or used (or libcrypto.so.3 is missing): `keys`, `sign`.
    static let keyUnusable = ExitCode(5)
    /// `run` was told to stop and did not finish within --stop-timeout.
    static let stopTimedOut = ExitCode(6)
    /// No agent answers on the control socket (`status`).
    static let agentUnreachable = ExitCode(7)
    /// `run`: another agent answers on the control socket.
    static let controlSocketInUse = ExitCode(8)
    /// `config apply` / `config rollback`: the agent rolled the config back or refused it.
    static let configNotApplied = ExitCode(9)
}

/// Prints one error line on stderr and returns the exit code to throw.
func fail(_ message: String, _ code: ExitCode) -> ExitCode {
    var stderrStream = StandardError()
    print("meteragent: \(message)", to: &stderrStream)
    return code
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { ConsoleOutput.stderr.post(string) }
}

/// Loads a site config or exits with every error found, one per line.
func loadSite(_ path: String, profiles: String?) throws -> SiteConfig {
    do {
        return try SiteConfigLoader.load(path: path, profilesDirectory: profiles)
    } catch {
        var stderrStream = StandardError()
        print(error.description, to: &stderrStream)
        throw Exit.invalidConfig
    }
}

/// Loads config text as if it were the file at `path` (a config about to replace it), or exits
/// with every error found.
func loadSite(text: String, asIfAt path: String, profiles: String?) throws -> SiteConfig {
    do {
        return try SiteConfigLoader.load(text: text, asIfAt: path, profilesDirectory: profiles)
    } catch {
        var stderrStream = StandardError()
        print(error.description, to: &stderrStream)
        throw Exit.invalidConfig
    }
}

/// The site configuration a command works on, and where its profiles come from.
struct SiteArguments {
    static let parameters: [Parameter] = [.argument("config", help: "Site configuration file (YAML).")] + ProfileOptions.parameters

    let config: String
    let profileOptions: ProfileOptions

    init(_ values: ParsedValues) throws(ValidationError) {
        config = try values.value("config")
        profileOptions = try ProfileOptions(values)
    }

    /// The parsed and validated site; exits with every error as file:line:column.
    func load() throws -> SiteConfig {
        try loadSite(config, profiles: profileOptions.profiles)
    }
}

struct ProfileOptions {
    static let parameters: [Parameter] = [.option("profiles", value: "dir", help: "Directory of device profiles.")]

    let profiles: String?

    init(_ values: ParsedValues) throws(ValidationError) {
        profiles = try values.optional("profiles")
    }
}
