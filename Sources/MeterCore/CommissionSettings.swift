import MeterProtocols

/// What `meteragent commission` may change on a meter of one model, and how (the profile's
/// `settings:` section; format in Hardware/profiles/README.md). A setting the profile does not
/// declare is never written.
public struct CommissionSettings: Sendable, Hashable {
    /// Modbus: the holding register of each writable setting.
    public var registers: [ModbusSetting: SettingRegister] = [:]
    /// Modbus: written before the settings (a password or programming-authorisation register).
    public var unlock: SettingWrite?
    /// Modbus: written after the settings (a "save"/"apply" register), when the model needs one.
    public var apply: SettingWrite?
    /// When the meter starts using new line settings (unit id, baud rate, parity).
    public var takesEffect: SettingsTakeEffect = .afterReply
    /// DL/T 645: the meter takes a new address (0x15 to AA…AA, alone on the line).
    public var writableAddress = false
    /// DL/T 645: the rates the meter takes with 0x17; empty if it cannot change its rate.
    public var bauds: [Int] = []

    public init() {}
}

/// A Modbus setting `commission` knows how to write.
public enum ModbusSetting: String, Sendable, Hashable, CaseIterable {
    case unitID = "unit_id"
    case baud
    case parity
    case ctRatio = "ct_ratio"
    case vtRatio = "vt_ratio"

    /// Order of the writes: ratios first, line settings last and the unit id after the baud rate
    /// and parity, so that a meter that switches at once is addressed where it now listens.
    public static let writeOrder: [ModbusSetting] = [.ctRatio, .vtRatio, .parity, .baud, .unitID]

    /// True for the settings that change where the meter answers.
    public var movesTheMeter: Bool { self == .unitID || self == .baud || self == .parity }
}

/// The holding register that holds one setting, and how its value is stored there.
public struct SettingRegister: Sendable, Hashable {
    public var address: UInt16
    public var type: ValueType
    public var wordOrder: WordOrder
    /// 0x10 (write multiple, default) or 0x06 (single register, for 16-bit types only).
    public var function: UInt8
    /// Stored codes by the value as a technician writes it (`9600` → 2, `even` → 1); empty when the
    /// register holds the value itself.
    public var codes: [String: Double]
    /// Allowed values when the register holds the value itself.
    public var range: ClosedRange<Double>?

    public init(address: UInt16, type: ValueType = .u16, wordOrder: WordOrder = .ABCD, function: UInt8 = 0x10,
                codes: [String: Double] = [:], range: ClosedRange<Double>? = nil) {
        self.address = address
        self.type = type
        self.wordOrder = wordOrder
        self.function = function
        self.codes = codes
        self.range = range
    }

    /// As a point, to reuse the register codecs of points.
    public func point(_ name: String) -> PointDefinition {
        PointDefinition(name: PointName("settings." + name), table: .holding, address: address, type: type, wordOrder: wordOrder)
    }

    /// The number stored for `value` as written (`9600`, `even`, `7`), or nil if the meter takes no such value.
    public func storedValue(for value: String) -> Double? {
        if !codes.isEmpty { return codes[value.lowercased()] }
        guard let number = Double(value) else { return nil }
        if let range, !range.contains(number) { return nil }
        return number
    }

    /// The value as written for a stored number (the inverse of `storedValue(for:)`).
    public func writtenValue(for stored: Double) -> String? {
        if codes.isEmpty { return stored == stored.rounded() ? String(Int64(stored)) : String(stored) }
        return codes.first { $0.value == stored }?.key
    }

    /// What the register accepts, for messages: `1200, 2400, 9600` or `1–247`.
    public var accepted: String {
        if !codes.isEmpty { return codes.sorted { $0.value < $1.value }.map(\.key).joined(separator: ", ") }
        guard let range else { return "any number" }
        return "\(Int64(range.lowerBound))–\(Int64(range.upperBound))"
    }
}

/// A fixed value written to a register (the unlock and apply steps).
public struct SettingWrite: Sendable, Hashable {
    public var register: SettingRegister
    public var value: Double

    public init(register: SettingRegister, value: Double) {
        self.register = register
        self.value = value
    }
}

/// When a meter starts using new line settings.
public enum SettingsTakeEffect: String, Sendable, Hashable, CaseIterable {
    /// Right after its reply to the write (it answers the write at the old settings).
    case afterReply = "after_reply"
    /// After it is switched off and on again.
    case afterRestart = "after_restart"
}
