import ArgumentParser
import MeterAgent
import MeterCore
import MeterIO
import MeterProtocols

/// Commissions one Modbus RTU meter: checks it is alone at its current unit and that the new unit
/// is free, writes the settings its profile declares (unlock step, ratios, parity, baud rate,
/// unit id, apply step) following the meter wherever a write moves it, waits for a restart where
/// the model needs one, and reads every written register back at the new settings.
///
/// Every transaction runs on a `ModbusBus` (libmodbus on the bus's own thread), inside
/// `BusPriority.command`: an earlier timeout must not put the meter in back-off while it restarts.
struct ModbusCommissioning {
    let command: Commission
    let profile: DeviceProfile
    let line: SerialSettings
    let target: SerialSettings

    /// One register write: a setting or the unlock/apply step.
    struct Step {
        var name: String
        var register: SettingRegister
        var value: Double
        var setting: ModbusSetting?
    }

    func run() async throws -> CommissionOutcome {
        guard let settings = profile.settings else {
            throw fail("profile '\(profile.name)' declares no writable settings ('settings:' in \(profile.source)): nothing can be commissioned", Exit.invalidConfig)
        }
        let changes = try plannedChanges(settings)
        let newUnit = UnitID(command.newUnit ?? command.unit)
        let oldUnit = UnitID(command.unit)
        try await checkAlone(at: oldUnit)
        if newUnit != oldUnit { try await checkFree(newUnit) }

        var steps = settings.unlock.map { [Step(name: "unlock", register: $0.register, value: $0.value)] } ?? []
        steps += changes
        if let apply = settings.apply { steps.append(Step(name: "apply", register: apply.register, value: apply.value)) }
        var current = (unit: oldUnit, line: line)
        for step in steps {
            try await write(step, at: current)
            // A meter that switches at once answers the next write where it now listens.
            if settings.takesEffect == .afterReply, let setting = step.setting {
                switch setting {
                case .unitID: current.unit = newUnit
                case .baud: current.line.baud = target.baud
                case .parity: current.line.parity = target.parity
                case .ctRatio, .vtRatio: break
                }
            }
        }
        if settings.takesEffect == .afterRestart {
            await command.progress("\(profile.model) takes its new settings when it restarts: switch it off and on again now "
                  + "(waiting up to \(Int(command.restartWait)) s for unit \(newUnit) at \(target.summary))")
            try await waitForRestart(unit: newUnit)
        }
        try await readBack(changes, unit: newUnit)
        let readings = try await readAll(unit: newUnit)
        return CommissionOutcome(port: command.port, busID: command.busID, deviceID: command.deviceID ?? "meter-\(newUnit)",
                                 line: target, protocolName: .modbus, deviceKey: ("unit", "\(newUnit)"), profile: profile.name,
                                 written: changes.map { "\($0.name)=\($0.register.writtenValue(for: $0.value) ?? "?")" },
                                 readings: readings)
    }

    /// The writes the options ask for, in `ModbusSetting.writeOrder`; each must be declared and
    /// take the value.
    private func plannedChanges(_ settings: CommissionSettings) throws -> [Step] {
        let asked: [ModbusSetting: String?] = [
            .unitID: command.newUnit.map { String($0) }, .baud: command.newBaud.map { String($0) },
            .parity: command.newParity?.lowercased(), .ctRatio: command.ctRatio, .vtRatio: command.vtRatio,
        ]
        var steps: [Step] = []
        for setting in ModbusSetting.writeOrder {
            guard let value = asked[setting] ?? nil else { continue }
            guard let register = settings.registers[setting] else {
                throw fail("profile '\(profile.name)' does not declare \(setting.rawValue) writable", Exit.invalidConfig)
            }
            guard let stored = register.storedValue(for: value) else {
                throw ValidationError("\(profile.model) takes \(setting.rawValue) \(register.accepted), not \(value)")
            }
            steps.append(Step(name: setting.rawValue, register: register, value: stored, setting: setting))
        }
        guard !steps.isEmpty else { throw ValidationError("nothing to change: give --new-unit, --new-baud, --new-parity, --ct-ratio or --vt-ratio") }
        return steps
    }

    private func bus(_ settings: SerialSettings, timeoutMs: Int? = nil) -> ModbusBus {
        ModbusBus(config: BusConfig(id: BusID(command.busID), transport: .serial(port: command.port, settings: settings, rs485: false),
                                    timeoutMs: timeoutMs ?? command.timeoutMs, retries: 0))
    }

    /// The profile's first point: every meter of the model has it, and its value differs from one
    /// meter to the next, so two meters answering together garble the reply.
    private var probePoint: PointDefinition { profile.points[0] }

    /// Refuses, writing nothing, unless exactly one meter answers at `unit`.
    private func checkAlone(at unit: UnitID) async throws {
        let bus = bus(line)
        defer { bus.close() }
        let point = probePoint
        let result = await transaction {
            () async throws(ModbusError) in
            try await bus.readRegisters(unit: unit, table: point.table, address: point.address, count: point.type.registerCount)
        }
        guard case let .failure(error) = result else { return }
        let place = "unit \(unit) on \(command.port) at \(line.summary)"
        switch error.kind {
        case .connection: throw fail("cannot open \(command.port): \(error.message)", Exit.busUnavailable)
        case .checksumError, .invalidResponse:
            throw fail("more than one meter answers at \(place): their replies collide (\(error.message)). Nothing was written. "
                       + "Connect only the meter to commission (factory-fresh meters share unit 1), or move the others first.", Exit.deviceFailed)
        case .exception:
            throw fail("the meter at \(place) refuses to be read (\(error.message)); is '\(profile.name)' its profile?", Exit.deviceFailed)
        default:
            throw fail("no meter answered at \(place) (\(error.message)). Nothing was written. "
                       + "Check the wiring and the meter's current settings (--unit, --baud, --parity).", Exit.deviceFailed)
        }
    }

    /// Refuses when something already answers at the new unit on the line's new settings.
    private func checkFree(_ unit: UnitID) async throws {
        let bus = bus(target)
        defer { bus.close() }
        let point = probePoint
        let result = await transaction {
            () async throws(ModbusError) in
            try await bus.readRegisters(unit: unit, table: point.table, address: point.address, count: point.type.registerCount)
        }
        if case let .failure(error) = result, error.kind == .timeout { return }
        throw fail("unit \(unit) is already taken on \(command.port) at \(target.summary): a meter answers there. Nothing was written; choose another --new-unit.",
                   Exit.deviceFailed)
    }

    private func write(_ step: Step, at place: (unit: UnitID, line: SerialSettings)) async throws {
        let words: [UInt16]
        do { words = try step.register.point(step.name).encode(step.value) } catch {
            throw fail("\(step.name) \(step.value) does not fit register 0x\(Hex.word(step.register.address)) (\(step.register.type.rawValue))", Exit.invalidConfig)
        }
        let bus = bus(place.line)
        defer { bus.close() }
        let register = step.register
        let result = await transaction {
            () async throws(ModbusError) in
            if register.function == 0x06 {
                try await bus.writeRegister(unit: place.unit, address: register.address, value: words[0])
            } else {
                try await bus.writeRegisters(unit: place.unit, address: register.address, values: words)
            }
        }
        if case let .failure(error) = result {
            throw fail("writing \(step.name) to register 0x\(Hex.word(register.address)) of unit \(place.unit) at \(place.line.summary) failed: \(error)",
                       error.kind == .connection ? Exit.busUnavailable : Exit.deviceFailed)
        }
        await command.progress("wrote \(step.name) = \(register.writtenValue(for: step.value) ?? String(step.value)) (register 0x\(Hex.word(register.address)), unit \(place.unit), \(place.line.summary))")
    }

    /// Polls the new unit at the new settings once a second until the meter answers or
    /// --restart-wait runs out.
    private func waitForRestart(unit: UnitID) async throws {
        let bus = bus(target, timeoutMs: min(command.timeoutMs, 500))
        defer { bus.close() }
        let point = probePoint
        let deadline = MonotonicClock.nowMs() + UInt64(command.restartWait * 1000)
        while true {
            let result = await transaction {
                () async throws(ModbusError) in
                try await bus.readRegisters(unit: unit, table: point.table, address: point.address, count: point.type.registerCount)
            }
            if case .success = result { return }
            guard MonotonicClock.nowMs() < deadline else {
                throw fail("the meter did not answer at unit \(unit), \(target.summary) within \(Int(command.restartWait)) s of the writes; "
                           + "switch it off and on, then check with: meteragent probe --port \(command.port) --unit \(unit) --baud \(target.baud) --profile \(profile.name)",
                           Exit.deviceFailed)
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Reads every written setting register back at the new settings.
    private func readBack(_ changes: [Step], unit: UnitID) async throws {
        let bus = bus(target)
        defer { bus.close() }
        for step in changes {
            let register = step.register
            let result = await transaction {
                () async throws(ModbusError) in
                try await bus.readRegisters(unit: unit, table: .holding, address: register.address, count: register.type.registerCount)
            }
            let read: Double?
            switch result {
            case let .success(words): read = register.point(step.name).decode(words).0?.doubleValue
            case let .failure(error):
                throw fail("reading \(step.name) back from unit \(unit) at \(target.summary) failed: \(error)", Exit.deviceFailed)
            }
            guard read == step.value else {
                let shown = read.flatMap(register.writtenValue(for:)) ?? read.map { String($0) } ?? "nothing"
                throw fail("unit \(unit) reads back \(step.name) \(shown), written \(register.writtenValue(for: step.value) ?? String(step.value))",
                           Exit.deviceFailed)
            }
        }
    }

    /// Every point of the profile at the new settings, as `probe` reads them.
    private func readAll(unit: UnitID) async throws -> [Reading] {
        let busConfig = BusConfig(id: BusID(command.busID), transport: .serial(port: command.port, settings: target, rs485: false),
                                  protocolName: .modbus, timeoutMs: command.timeoutMs, retries: 0)
        let device = DeviceConfig(id: DeviceID(command.deviceID ?? "meter-\(unit)"), bus: busConfig.id, unit: unit, profile: profile)
        return try await readOnce(device, on: busConfig)
    }
}

/// One transaction inside `BusPriority.command`, with its typed error.
private func transaction<T: Sendable>(_ body: () async throws(ModbusError) -> T) async -> Result<T, ModbusError> {
    await BusPriority.command {
        do throws(ModbusError) { return .success(try await body()) } catch { return .failure(error) }
    }
}

/// Reads `device` once through a poll scheduler of its own (the daemon's path); fails unless
/// every reading is good.
func readOnce(_ device: DeviceConfig, on bus: BusConfig) async throws -> [Reading] {
    let scheduler: PollScheduler
    do {
        scheduler = try PollScheduler(site: SiteConfig(gatewayID: "commission", buses: [bus], devices: [device]))
    } catch {
        throw fail(error.description, Exit.invalidConfig)
    }
    defer { scheduler.close() }
    let readings = await scheduler.readOnce(device.id) ?? []
    if let bad = readings.first(where: { $0.quality != .good }) {
        let why = scheduler.busError(of: device.id).map { " (\($0))" } ?? ""
        throw fail("\(device.id) at its new settings: \(bad.point) \(bad.quality)\(why)", Exit.deviceFailed)
    }
    return readings
}
