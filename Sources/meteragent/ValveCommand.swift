import CommandLineKit
import MeterCore

/// `meteragent valve CONFIG DEVICE open|close`: moves a water or gas meter's valve through the
/// same driver the daemon uses (`MeterDriver.execute`), then reads the valve state back.
struct Valve: Command {
    static let spec = CommandSpec(
        "valve",
        abstract: "Open or close the valve of a water or gas meter, then read its state back.",
        discussion: """
        Prints the outcome (confirmed, accepted, rejected, failed, unsupported) and the state read \
        back, or one JSON object with --json. Exit 0 only when the read-back confirms the valve \
        position; 1 when the meter refused, did not answer, or reads back another position.
        """,
        parameters: DeviceCommandTarget.parameters + [.argument("action", help: "open or close.")]
    )

    enum Action: String, ArgumentValue, CaseIterable {
        case open, close

        var command: MeterCommand { self == .open ? .valveOpen : .valveClose }
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
