import ArgumentParser
import MeterCore

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with site configuration files.",
        subcommands: [Validate.self]
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
}
