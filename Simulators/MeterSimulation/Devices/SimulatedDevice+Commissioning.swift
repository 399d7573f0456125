import MeterCore
import MeterProtocols

/// What a simulated meter's settings registers hold (the numbers `commission` wrote), and the
/// line settings waiting for a restart on models whose profile says `takes_effect: after_restart`.
struct CommissioningState: Sendable {
    var stored: [ModbusSetting: Double] = [:]
    var pending: [ModbusSetting: Double] = [:]
    /// The profile's unlock value was written since the last restart.
    var unlocked = false
}

extension SimulatedDevice {
    /// The number the register of `setting` holds now: what was last written, else the meter's
    /// own setting (its unit id, its own baud rate, else the profile's line defaults).
    func storedSetting(_ setting: ModbusSetting) -> Double? {
        if let written = commissioning.withLock({ $0.stored[setting] }) { return written }
        guard let register = profile.settings?.registers[setting] else { return nil }
        switch setting {
        case .unitID: return Double(unit.rawValue)
        case .baud: return register.storedValue(for: String(baud ?? profile.serialDefaults.baud))
        case .parity: return register.storedValue(for: profile.serialDefaults.parity.rawValue)
        case .ctRatio, .vtRatio: return nil
        }
    }

    /// A Modbus write stored `value` in the register of `setting` (after the meter's reply went
    /// out). Line settings take effect now or at the next `restart()`, as the profile says.
    func commission(_ setting: ModbusSetting, stored value: Double) {
        let afterRestart = profile.settings?.takesEffect == .afterRestart
        commissioning.withLock { s in
            s.stored[setting] = value
            if setting.movesTheMeter, afterRestart { s.pending[setting] = value }
        }
        if !setting.movesTheMeter || !afterRestart { take(setting, value) }
    }

    /// Whether settings writes are taken on a model with an unlock step.
    var isUnlocked: Bool { commissioning.withLock { $0.unlocked } }

    /// The unlock value landed in its register.
    func unlock() { commissioning.withLock { $0.unlocked = true } }

    /// Switched off and on: settings written since take effect, and the meter is locked again.
    public func restart() {
        let pending = commissioning.withLock { s -> [ModbusSetting: Double] in
            defer {
                s.pending = [:]
                s.unlocked = false
            }
            return s.pending
        }
        for setting in ModbusSetting.writeOrder { if let value = pending[setting] { take(setting, value) } }
    }

    /// `settings.unit_id=7` lines for `state`: every setting written, with `(after restart)` while pending.
    public var commissionedSettings: [String] {
        let s = commissioning.withLock { $0 }
        return ModbusSetting.allCases.compactMap { setting in
            guard let value = s.stored[setting] else { return nil }
            let written = profile.settings?.registers[setting]?.writtenValue(for: value) ?? String(value)
            return "settings.\(setting.rawValue)=\(written)\(s.pending[setting] != nil ? " (after restart)" : "")"
        }
    }

    private func take(_ setting: ModbusSetting, _ value: Double) {
        guard let register = profile.settings?.registers[setting], let written = register.writtenValue(for: value) else { return }
        switch setting {
        case .unitID:
            if let unit = UInt8(written), (1...247).contains(unit) { currentUnit.withLock { $0 = UnitID(unit) } }
        case .baud:
            if let baud = Int(written) { takeBaud(baud) }
        case .parity:
            // A pty cannot carry parity (PARENB is refused): the stored register, shown by `state`, is all of it.
            break
        case .ctRatio, .vtRatio:
            // The ratio scales what the meter reports from its transformer; the model has none.
            set("settings.\(setting.rawValue)", to: value)
        }
    }

    /// DL/T 645 0x17 and the Modbus baud register: the meter's UART runs at `baud` from now on.
    func takeBaud(_ baud: Int) {
        self.baud = baud
    }
}
