import ArgumentParser
import MeterAgent
import MeterCore

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with site configuration files.",
        subcommands: [Validate.self, Diff.self, History.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a site config and the profiles it uses; print every error as file:line:column: message."
        )

        @OptionGroup var site: SiteArguments

        func run() throws {
            let site = try self.site.load()
            print("\(self.site.config): ok (gateway \(site.gatewayID), \(site.buses.count) buses, \(site.devices.count) devices)")
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the buses, devices and readers that NEW adds, removes or changes against OLD.",
            discussion: "Both files are validated first. Exit code 0 whether or not they differ; 2 when either does not validate."
        )

        @Argument(help: "The config that runs now.") var old: String
        @Argument(help: "The config to compare with it.") var new: String
        @OptionGroup var profileOptions: ProfileOptions

        func run() throws {
            let before = try loadSite(old, profiles: profileOptions.profiles)
            let after = try loadSite(new, profiles: profileOptions.profiles)
            let diff = SiteDiff(from: before, to: after)
            print(diff.isEmpty ? "no changes" : diff.lines.joined(separator: "\n"))
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the configs the agent ran and tried, kept in CONFIG.history/ (newest last).",
            discussion: "`config rollback CONFIG N` applies entry N again, through the same health check."
        )

        @Argument(help: "The site config file the agent runs.") var config: String

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
                let outcome = entry.outcome == .applied ? "applied" : "rolled back"
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
