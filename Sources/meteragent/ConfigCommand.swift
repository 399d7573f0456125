import CommandLineKit
import MeterAgent
import MeterCore

enum Config: CommandNode {
    static let spec = CommandSpec(
        group: "config",
        abstract: "Work with site configuration files.",
        subcommands: [Validate.self, Diff.self, Apply.self, History.self, Rollback.self]
    )

    struct Validate: Command {
        static let spec = CommandSpec(
            "validate",
            abstract: "Check a site config and the profiles it uses; print every error as file:line:column: message.",
            parameters: SiteArguments.parameters
        )

        let site: SiteArguments

        init(_ values: ParsedValues) throws(ValidationError) {
            site = try SiteArguments(values)
        }

        func run() throws {
            let site = try self.site.load()
            print("\(self.site.config): ok (gateway \(site.gatewayID), \(site.buses.count) buses, \(site.devices.count) devices)")
        }
    }

    struct Diff: Command {
        static let spec = CommandSpec(
            "diff",
            abstract: "Show the buses, devices and readers that NEW adds, removes or changes against OLD.",
            discussion: "Both files are validated first. Exit code 0 whether or not they differ; 2 when either does not validate.",
            parameters: [
                .argument("old", help: "The config that runs now."),
                .argument("new", help: "The config to compare with it."),
            ] + ProfileOptions.parameters
        )

        let old: String
        let new: String
        let profileOptions: ProfileOptions

        init(_ values: ParsedValues) throws(ValidationError) {
            old = try values.value("old")
            new = try values.value("new")
            profileOptions = try ProfileOptions(values)
        }

        func run() throws {
            let before = try loadSite(old, profiles: profileOptions.profiles)
            let after = try loadSite(new, profiles: profileOptions.profiles)
            let diff = SiteDiff(from: before, to: after)
            print(diff.isEmpty ? "no changes" : diff.lines.joined(separator: "\n"))
        }
    }

    struct Apply: Command {
        static let spec = CommandSpec(
            "apply",
            abstract: "Validate a site config and have the running agent take it into use, or roll it back.",
            discussion: """
            FILE is validated here first (every error as file:line:column). The running agent (over its control \
            socket) then stops polling with its config, starts FILE's, and gives it the apply.health_deadline_s of \
            FILE to prove itself: every bus open, apply.min_answering_percent of the devices answering. If it passes, \
            the agent writes it to its config file (atomically) and its history; if not, the previous config runs \
            again. Nothing buffered is lost either way. Without a running agent, FILE is written to --config \
            (atomically, with a history entry) and runs at the next start. Exit codes: 0 applied or unchanged; \
            2 FILE does not validate; 9 rolled back or refused by the agent; 7 the agent did not answer.
            """,
            parameters: [
                .argument("file", help: "The new site config."),
                .option("config", value: "path", default: "/etc/meteragent/site.yaml", help: "The config file of the gateway, written when no agent runs."),
            ] + ProfileOptions.parameters + ControlSocketOption.parameters + [
                .flag("json", help: "Print the agent's JSON reply."),
            ]
        )

        let file: String
        let config: String
        let profileOptions: ProfileOptions
        let socket: ControlSocketOption
        let json: Bool

        init(_ values: ParsedValues) throws(ValidationError) {
            file = try values.value("file")
            config = try values.value("config")
            profileOptions = try ProfileOptions(values)
            socket = try ControlSocketOption(values)
            json = values.flag("json")
        }

        func run() async throws {
            let site = try loadSite(file, profiles: profileOptions.profiles)
            guard let text = readTextFile(file) else { throw fail("cannot read \(file)", Exit.invalidConfig) }
            try await applyThroughAgent(text, site: site, rollback: false, socket: socket.path, offlineTarget: config, profiles: profileOptions.profiles, json: json)
        }
    }

    struct Rollback: Command {
        static let spec = CommandSpec(
            "rollback",
            abstract: "Apply a config of the history again (default: the newest one taken into use before the one in the file).",
            discussion: "The same path as `config apply`: the running agent's health check decides. `config history` lists the entries.",
            parameters: [
                .argument("config", help: "The site config file the agent runs."),
                .optionalArgument("entry", help: "The history entry to go back to."),
            ] + ProfileOptions.parameters + ControlSocketOption.parameters + [
                .flag("json", help: "Print the agent's JSON reply."),
            ]
        )

        let config: String
        let entry: Int?
        let profileOptions: ProfileOptions
        let socket: ControlSocketOption
        let json: Bool

        init(_ values: ParsedValues) throws(ValidationError) {
            config = try values.value("config")
            entry = try values.optional("entry")
            profileOptions = try ProfileOptions(values)
            socket = try ControlSocketOption(values)
            json = values.flag("json")
        }

        func run() async throws {
            let history = ConfigHistory(configPath: config, keep: .max)
            let current = readTextFile(config)
            let chosen = entry.map { history.entry($0) }
                ?? history.entries().last { $0.outcome == .applied && readTextFile($0.path) != current }
            guard let chosen else {
                throw fail(entry.map { "no entry \($0) in \(history.directory)" } ?? "no earlier applied config in \(history.directory)",
                           Exit.invalidConfig)
            }
            guard let text = readTextFile(chosen.path) else { throw fail("cannot read \(chosen.path)", Exit.invalidConfig) }
            // Relative paths in it are the config file's, not the history directory's.
            let site = try loadSite(text: text, asIfAt: config, profiles: profileOptions.profiles)
            print("rolling back to entry \(chosen.number) (\(chosen.time), \(chosen.origin))")
            try await applyThroughAgent(text, site: site, rollback: true, socket: socket.path, offlineTarget: config, profiles: profileOptions.profiles, json: json)
        }
    }

    struct History: Command {
        static let spec = CommandSpec(
            "history",
            abstract: "List the configs the agent ran and tried, kept in CONFIG.history/ (newest last).",
            discussion: "`config rollback CONFIG N` applies entry N again, through the same health check.",
            parameters: [.argument("config", help: "The site config file the agent runs.")]
        )

        let config: String

        init(_ values: ParsedValues) throws(ValidationError) {
            config = try values.value("config")
        }

        func run() throws {
            let history = ConfigHistory(configPath: config, keep: .max)
            let entries = history.entries()
            guard !entries.isEmpty else {
                print("no history in \(history.directory)")
                return
            }
            let current = readTextFile(config)
            print("   #  time (UTC)        outcome      origin")
            for entry in entries {
                let outcome = switch entry.outcome {
                case .applied: "applied"
                case .rolledBack: "rolled back"
                case .rejected: "rejected"
                }
                let mark = entry.outcome == .applied && readTextFile(entry.path) == current ? "  <- in the file now" : ""
                let number = String(entry.number)
                print(String(repeating: " ", count: max(0, 4 - number.count)) + number + "  " + entry.time + "  "
                      + outcome.padding(11) + "  " + entry.origin + mark)
            }
        }
    }
}

private extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

/// Sends a validated config to the running agent's `apply`, prints the outcome and exits by it;
/// with no agent, writes it to `offlineTarget` for the next start.
private func applyThroughAgent(_ text: String, site: SiteConfig, rollback: Bool, socket: String, offlineTarget: String,
                               profiles: String?, json: Bool) async throws {
    var request = "{\"request\":\"apply\",\"yaml\":" + JSONWriter.quoted(text)
    if rollback { request += ",\"rollback\":\"true\"" }
    request += "}"
    let reply: ControlReply
    do {
        // The agent answers once the health check has decided.
        reply = try await ControlClient.send(path: socket, request: request, timeoutMs: (site.apply.healthDeadlineSeconds + 120) * 1000)
    } catch where error.noAgent {
        // It must load where it will run (relative paths are the config file's).
        _ = try loadSite(text: text, asIfAt: offlineTarget, profiles: profiles)
        do throws(FileWriteError) {
            try AtomicFile.replace(offlineTarget, with: text)
            try ConfigHistory(configPath: offlineTarget, keep: site.apply.keep)
                .record(text, outcome: .applied, origin: "offline", nowMs: WallClock.nowMs())
        } catch {
            throw fail(error.description, Exit.invalidConfig)
        }
        print("no agent answers on \(socket): written to \(offlineTarget); it runs when the agent starts")
        return
    } catch {
        throw fail(error.description, Exit.agentUnreachable)
    }
    guard reply.ok else { throw fail("the agent refused: " + (reply.string("error") ?? reply.line), Exit.configNotApplied) }
    print(json ? reply.line : (reply.string("path").map { "\($0): " } ?? "") + (reply.string("text") ?? reply.line))
    let status = reply.string("status")
    guard status == "applied" || status == "unchanged" else { throw Exit.configNotApplied }
}
