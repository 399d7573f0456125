import CommandLineKit
import MeterCore

/// `meteragent relay CONFIG DEVICE ACTION`: relay control of a DL/T 645 meter through the same
/// driver the daemon uses (`MeterDriver.execute`), with the password level from the profile and
/// the password and operator code from the site config; then reads status word 3 back.
struct Relay: Command {
    static let spec = CommandSpec(
        "relay",
        abstract: "Switch the relay (or alarm, keep-power) of an electricity meter, then read its state back.",
        discussion: """
        Actions: open (trip, disconnect), close (direct close), arm (close allowed: the customer \
        recloses), alarm, alarm-off, keep-power (保电), release. Prints the outcome (confirmed, \
        accepted, rejected, failed, unsupported) and the relay state read back, or one JSON object \
        with --json. Exit 0 only when the read-back confirms; 1 when the meter refused (e.g. \
        unauthorised: wrong password or level), did not answer, or reads back another state.
        """,
        parameters: DeviceCommandTarget.parameters + [
            .argument("action", help: "open, close, arm, alarm, alarm-off, keep-power or release."),
        ]
    )

    enum Action: String, ArgumentValue, CaseIterable {
        case open, close, arm, alarm
        case alarmOff = "alarm-off"
        case keepPower = "keep-power"
        case release

        var command: MeterCommand {
            switch self {
            case .open: .relayOpen
            case .close: .relayClose
            case .arm: .relayArm
            case .alarm: .alarmOn
            case .alarmOff: .alarmOff
            case .keepPower: .keepPower
            case .release: .releaseKeepPower
            }
        }
    }

    let target: DeviceCommandTarget
    let action: Action

    init(_ values: ParsedValues) throws(ValidationError) {
        target = try DeviceCommandTarget(values)
        action = try values.value("action")
    }

    func run() async throws {
        try await target.execute(action.command)
    }
}
