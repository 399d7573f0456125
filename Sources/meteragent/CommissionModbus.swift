import CommandLineKit
import MeterAgent
import MeterCore
import MeterIO
import MeterProtocols

/// Commissions one Modbus RTU meter: checks it is alone at its current unit and that the new unit
/// is free, writes the settings its profile declares (unlock step, ratios, parity, baud rate,
/// unit id, apply step) following the meter wherever a write moves it, waits for a restart where
/// the model needs one, and reads every written register back at the new settings.
struct ModbusCommissioning {
    let command: Commission
    let profile: DeviceProfile
    let line: SerialSettings
    let target: SerialSettings

    func run() async throws -> CommissionOutcome {
        guard let settings = profile.settings else {
            throw fail("profile '\(profile.name)' declares no writable settings ('settings:' in \(profile.source)): nothing can be commissioned", Exit.invalidConfig)
        }
        let oldUnit = UnitID(command.unit), newUnit = UnitID(command.newUnit ?? command.unit)
        let session = ModbusCommissioningSession(
            port: command.port, busID: BusID(command.busID), timeoutMs: command.timeoutMs, restartWait: command.restartWait,
            profile: profile, settings: settings, changes: try plannedChanges(settings),
            from: (oldUnit, line), to: (newUnit, target), progressOnStderr: command.json)
        // libmodbus blocks, and a context restores the port's old termios when it closes: one
        // thread runs every transaction in order, closing each port before the next opens.
        let failure = await DedicatedThread.run(onCancel: Optional(CommissionFailure("cancelled", Exit.deviceFailed))) { session.run() }
        if let failure { throw fail(failure.message, ExitCode(failure.code)) }
        let busConfig = BusConfig(id: BusID(command.busID), transport: .serial(port: command.port, settings: target, rs485: false),
                                  protocolName: .modbus, timeoutMs: command.timeoutMs, retries: 0)
        let device = DeviceConfig(id: DeviceID(command.deviceID ?? "meter-\(newUnit)"), bus: busConfig.id, unit: newUnit, profile: profile)
        let readings = try await readOnce(device, on: busConfig)
        return CommissionOutcome(port: command.port, busID: command.busID, deviceID: device.id.rawValue, line: target, protocolName: .modbus,
                                 deviceKey: ("unit", "\(newUnit)"), profile: profile.name,
                                 written: session.changes.map { "\($0.name)=\($0.register.writtenValue(for: $0.value) ?? "?")" },
                                 readings: readings)
    }

    /// The writes the options ask for, in `ModbusSetting.writeOrder`; each must be declared and
    /// take the value.
    private func plannedChanges(_ settings: CommissionSettings) throws -> [SettingStep] {
        let asked: [ModbusSetting: String?] = [
            .unitID: command.newUnit.map { String($0) }, .baud: command.newBaud.map { String($0) },
            .parity: command.newParity?.lowercased(), .ctRatio: command.ctRatio, .vtRatio: command.vtRatio,
        ]
        var steps: [SettingStep] = []
        for setting in ModbusSetting.writeOrder {
            guard let value = asked[setting] ?? nil else { continue }
            guard let register = settings.registers[setting] else {
                throw fail("profile '\(profile.name)' does not declare \(setting.rawValue) writable", Exit.invalidConfig)
            }
            guard let stored = register.storedValue(for: value) else {
                throw ValidationError("\(profile.model) takes \(setting.rawValue) \(register.accepted), not \(value)")
            }
            // Checked before any port opens: a value that does not fit must not stop commissioning half-way.
            guard (try? register.point(setting.rawValue).encode(stored)) != nil else {
                throw ValidationError("\(setting.rawValue) \(value) does not fit register 0x\(Hex.word(register.address)) (\(register.type.rawValue))")
            }
            steps.append(SettingStep(name: setting.rawValue, register: register, value: stored, setting: setting))
        }
        guard !steps.isEmpty else { throw ValidationError("nothing to change: give --new-unit, --new-baud, --new-parity, --ct-ratio or --vt-ratio") }
        return steps
    }
}

/// Why commissioning stopped, and the exit code that says so.
struct CommissionFailure: Error, Sendable {
    var message: String
    var code: Int32
    init(_ message: String, _ code: ExitCode) {
        self.message = message
        self.code = code.rawValue
    }
}

/// One register write: a setting or the unlock/apply step.
struct SettingStep: Sendable {
    var name: String
    var register: SettingRegister
    var value: Double
    var setting: ModbusSetting?
}

/// The blocking half of Modbus commissioning, run on a dedicated thread with one `ModbusClient`
/// at a time.
struct ModbusCommissioningSession: Sendable {
    let port: String
    let busID: BusID
    let timeoutMs: Int
    let restartWait: Double
    let profile: DeviceProfile
    let settings: CommissionSettings
    let changes: [SettingStep]
    let from: (unit: UnitID, line: SerialSettings)
    let to: (unit: UnitID, line: SerialSettings)
    let progressOnStderr: Bool

    /// Nil when the meter was moved and reads back what was written.
    func run() -> CommissionFailure? {
        do throws(CommissionFailure) {
            try checkAlone()
            if to.unit != from.unit { try checkFree() }
            var steps = settings.unlock.map { [SettingStep(name: "unlock", register: $0.register, value: $0.value)] } ?? []
            steps += changes
            if let apply = settings.apply { steps.append(SettingStep(name: "apply", register: apply.register, value: apply.value)) }
            var current = from
            for step in steps {
                try write(step, at: current)
                // A meter that switches at once answers the next write where it now listens.
                if settings.takesEffect == .afterReply, let setting = step.setting {
                    switch setting {
                    case .unitID: current.unit = to.unit
                    case .baud: current.line.baud = to.line.baud
                    case .parity: current.line.parity = to.line.parity
                    case .ctRatio, .vtRatio: break
                    }
                }
            }
            if settings.takesEffect == .afterRestart, changes.contains(where: { $0.setting?.movesTheMeter == true }) {
                progress("\(profile.model) takes its new settings when it restarts: switch it off and on again now "
                         + "(waiting up to \(Int(restartWait)) s for unit \(to.unit) at \(to.line.summary))")
                try waitForRestart()
            }
            try readBack()
            return nil
        } catch {
            return error
        }
    }

    private func progress(_ line: String) {
        (progressOnStderr ? ConsoleOutput.stderr : ConsoleOutput.stdout).post(line + "\n")
    }

    /// A client at `line`, used for `body` and closed before the next one opens.
    private func with<T>(_ line: SerialSettings, timeoutMs: Int? = nil,
                         _ body: (ModbusClient) throws(ModbusError) -> T) -> Result<T, ModbusError> {
        let client = ModbusClient(config: BusConfig(id: busID, transport: .serial(port: port, settings: line, rs485: false),
                                                    timeoutMs: timeoutMs ?? self.timeoutMs, retries: 0))
        defer { client.close() }
        do throws(ModbusError) { return .success(try body(client)) } catch { return .failure(error) }
    }

    /// The profile's first point: every meter of the model has it, and its value differs from one
    /// meter to the next, so two meters answering together garble the reply.
    private func readProbePoint(_ client: ModbusClient, unit: UnitID) throws(ModbusError) {
        let point = profile.points[0]
        _ = try client.readRegisters(unit: unit, table: point.table, address: point.address, count: point.type.registerCount)
    }

    /// Refuses, writing nothing, unless exactly one meter answers at the current unit.
    private func checkAlone() throws(CommissionFailure) {
        guard case let .failure(error) = with(from.line, { (c) throws(ModbusError) in try readProbePoint(c, unit: from.unit) }) else { return }
        let place = "unit \(from.unit) on \(port) at \(from.line.summary)"
        switch error.kind {
        case .connection: throw CommissionFailure("cannot open \(port): \(error.message)", Exit.busUnavailable)
        case .checksumError, .invalidResponse:
            throw CommissionFailure("more than one meter answers at \(place): their replies collide (\(error.message)). Nothing was written. "
                                    + "Connect only the meter to commission (factory-fresh meters share unit 1), or move the others first.", Exit.deviceFailed)
        case .exception:
            throw CommissionFailure("the meter at \(place) refuses to be read (\(error.message)); is '\(profile.name)' its profile?", Exit.deviceFailed)
        default:
            throw CommissionFailure("no meter answered at \(place) (\(error.message)). Nothing was written. "
                                    + "Check the wiring and the meter's current settings (--unit, --baud, --parity).", Exit.deviceFailed)
        }
    }

    /// Refuses when something already answers at the new unit on the new line settings.
    private func checkFree() throws(CommissionFailure) {
        let result = with(to.line) { (c) throws(ModbusError) in try readProbePoint(c, unit: to.unit) }
        if case let .failure(error) = result, error.kind == .timeout { return }
        throw CommissionFailure("unit \(to.unit) is already taken on \(port) at \(to.line.summary): a meter answers there. "
                                + "Nothing was written; choose another --new-unit.", Exit.deviceFailed)
    }

    private func write(_ step: SettingStep, at place: (unit: UnitID, line: SerialSettings)) throws(CommissionFailure) {
        let register = step.register
        let words: [UInt16]
        do { words = try register.point(step.name).encode(step.value) } catch {
            throw CommissionFailure("\(step.name) \(step.value) does not fit register 0x\(Hex.word(register.address)) (\(register.type.rawValue))", Exit.invalidConfig)
        }
        let result = with(place.line) { (c) throws(ModbusError) in
            if register.function == 0x06 {
                try c.writeRegister(unit: place.unit, address: register.address, value: words[0])
            } else {
                try c.writeRegisters(unit: place.unit, address: register.address, values: words)
            }
        }
        if case let .failure(error) = result {
            throw CommissionFailure("writing \(step.name) to register 0x\(Hex.word(register.address)) of unit \(place.unit) at \(place.line.summary) failed: \(error)",
                                    error.kind == .connection ? Exit.busUnavailable : Exit.deviceFailed)
        }
        progress("wrote \(step.name) = \(register.writtenValue(for: step.value) ?? String(step.value)) (register 0x\(Hex.word(register.address)), unit \(place.unit), \(place.line.summary))")
    }

    /// Asks at the new unit and settings every second until the meter answers or --restart-wait runs out.
    private func waitForRestart() throws(CommissionFailure) {
        let deadline = MonotonicClock.nowMs() + UInt64(restartWait * 1000)
        while true {
            if case .success = with(to.line, timeoutMs: min(timeoutMs, 500), { (c) throws(ModbusError) in try readProbePoint(c, unit: to.unit) }) { return }
            guard MonotonicClock.nowMs() < deadline else {
                throw CommissionFailure("the meter did not answer at unit \(to.unit), \(to.line.summary) within \(Int(restartWait)) s of the writes; "
                                        + "switch it off and on, then check with: meteragent probe --port \(port) --unit \(to.unit) --baud \(to.line.baud) --profile \(profile.name)",
                                        Exit.deviceFailed)
            }
            DedicatedThread.sleep(microseconds: 1_000_000)
        }
    }

    /// Reads every written setting register back at the new settings.
    private func readBack() throws(CommissionFailure) {
        let result = with(to.line) { (c) throws(ModbusError) -> [(SettingStep, [UInt16])] in
            var read: [(SettingStep, [UInt16])] = []
            for step in changes {
                read.append((step, try c.readRegisters(unit: to.unit, table: .holding, address: step.register.address, count: step.register.type.registerCount)))
            }
            return read
        }
        let read: [(SettingStep, [UInt16])]
        switch result {
        case let .success(words): read = words
        case let .failure(error): throw CommissionFailure("reading the settings back from unit \(to.unit) at \(to.line.summary) failed: \(error)", Exit.deviceFailed)
        }
        for (step, words) in read {
            let register = step.register
            let point = register.point(step.name)
            let value = point.decode(words).0?.doubleValue
            // What the register can hold of the value (an f32 keeps 0.1 as 0.100000001…).
            let expected = (try? point.encode(step.value)).flatMap { point.decode($0).0?.doubleValue } ?? step.value
            guard value == expected else {
                let shown = value.flatMap(register.writtenValue(for:)) ?? value.map { String($0) } ?? "nothing"
                throw CommissionFailure("unit \(to.unit) reads back \(step.name) \(shown), written \(register.writtenValue(for: step.value) ?? String(step.value))",
                                        Exit.deviceFailed)
            }
        }
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
