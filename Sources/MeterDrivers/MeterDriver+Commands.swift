import MeterCore

extension MeterDriver {
    /// Drivers whose meters take no commands (plain Modbus profiles for now).
    public func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
        CommandOutcome(device: device.id, command: command, status: .unsupported,
                       message: "\(device.profile.protocolName.rawValue) profile '\(device.profile.name)' has no \(command.action) command",
                       quality: .busError)
    }
}
