import ArgumentParser
import MeterCore

/// `meteragent valve CONFIG DEVICE open|close`: moves a water or gas meter's valve through the
/// same driver the daemon uses (`MeterDriver.execute`), then reads the valve state back.
struct Valve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open or close the valve of a water or gas meter, then read its state back.",
        discussion: """
        Prints the outcome (confirmed, accepted, rejected, failed, unsupported) and the state read \
        back, or one JSON object with --json. Exit 0 only when the read-back confirms the valve \
        position; 1 when the meter refused, did not answer, or reads back another position.
        """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case open, close

        var command: MeterCommand { self == .open ? .valveOpen : .valveClose }
    }

    @Argument(help: "Site configuration file (YAML).")
    var config: String

    @Argument(help: "Device id from the site configuration.")
    var device: String

    @Argument(help: "open or close.")
    var action: Action

    @OptionGroup var profileOptions: ProfileOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        let site = try loadSite(config, profiles: profileOptions.profiles)
        try await executeCommand(action.command, device: device, site: site, config: config, json: json)
    }
}
