import MeterCore
import MeterIO
import MeterProtocols

extension ModbusMeterDriver {
    /// Writes a coil or holding register(s) of the profile (a relay coil, a load-limit register),
    /// then reads the point back to confirm. Modbus meters take no other command.
    public func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome {
        guard case let .write(name, value) = command else {
            return CommandOutcome(device: device.id, command: command, status: .unsupported,
                                  message: "Modbus profile '\(device.profile.name)' maps \(command.action) to no register", quality: .busError)
        }
        func outcome(_ status: CommandOutcome.Status, _ message: String, quality: Quality = .good, observed: [Reading] = []) -> CommandOutcome {
            CommandOutcome(device: device.id, command: command, status: status, message: message, quality: quality, observed: observed)
        }
        guard let point = device.profile.point(named: name) else {
            return outcome(.unsupported, "no point '\(name)' in profile '\(device.profile.name)'", quality: .busError)
        }
        let words: [UInt16]
        do throws(RegisterEncodeError) {
            words = try point.encode(value.doubleValue)
        } catch {
            return outcome(.rejected, "\(value) does not fit point \(name) (\(point.type)): \(error)", quality: .invalidValue)
        }
        do throws(ModbusError) {
            switch point.table {
            case .coil:
                try await bus.writeCoil(unit: device.unit, address: point.address, value: words.first != 0)
            case .holding where words.count == 1:
                try await bus.writeRegister(unit: device.unit, address: point.address, value: words[0])
            case .holding:
                try await bus.writeRegisters(unit: device.unit, address: point.address, values: words)
            case .input, .discrete:
                return outcome(.unsupported, "point \(name) is in the read-only \(point.table.rawValue) table", quality: .busError)
            }
        } catch {
            if case .exception = error.kind {
                return outcome(.rejected, "meter refused the write: \(error)", quality: error.quality)
            }
            return outcome(.failed, error.description, quality: error.quality)
        }
        let observed = await read(points: [name], now: now)
        guard let reading = observed.first, reading.quality == .good, let readBack = reading.value else {
            return outcome(.accepted, "meter took the write; read-back failed (\(observed.first?.quality.description ?? "no reading"))",
                           observed: observed)
        }
        // Floats and scaled integers come back through the point's scale: equal within half a step.
        let step = max(abs(point.scale.doubleValue), 1e-9)
        if abs(readBack.doubleValue - value.doubleValue) <= step / 2 {
            return outcome(.confirmed, "\(name) = \(readBack)", observed: observed)
        }
        return outcome(.accepted, "meter took the write but reads back \(name) = \(readBack)", observed: observed)
    }
}
