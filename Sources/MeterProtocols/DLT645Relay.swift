/// N1 of a relay-control command (0x1C).
public enum DLT645RelayAction: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Disconnect the load (跳闸).
    case trip = 0x1A
    /// Allow the customer to reclose (合闸允许).
    case closeAllowed = 0x1B
    /// Close directly (直接合闸; a later 费控 extension).
    case directClose = 0x1C
    case alarm = 0x2A
    case alarmOff = 0x2B
    /// Keep power on (保电).
    case keepPower = 0x3A
    case releaseKeepPower = 0x3B

    public var description: String {
        switch self {
        case .trip: "trip"
        case .closeAllowed: "close allowed"
        case .directClose: "direct close"
        case .alarm: "alarm"
        case .alarmOff: "alarm off"
        case .keepPower: "keep power"
        case .releaseKeepPower: "release keep power"
        }
    }
}

/// The 16 data bytes of a plaintext relay command: PA, P0–P2 (password), C0–C3 (operator code),
/// N1 (action), N2 = 00, N3–N8 (deadline ss mm hh DD MM YY).
public struct DLT645RelayCommand: Sendable, Hashable {
    public var passwordLevel: UInt8
    /// P0 P1 P2 in wire order (written `123456` is sent 56 34 12).
    public var password: [UInt8]
    /// C0 … C3 in wire order.
    public var operatorCode: [UInt8]
    /// N1; a raw byte so that a meter's refusal of an unknown code can be tested.
    public var action: UInt8
    public var deadline: MeterDateTime

    public init(passwordLevel: UInt8, password: [UInt8], operatorCode: [UInt8], action: UInt8, deadline: MeterDateTime) {
        self.passwordLevel = passwordLevel
        self.password = password
        self.operatorCode = operatorCode
        self.action = action
        self.deadline = deadline
    }

    /// From the written password (6 hex digits) and operator code (8), as in a site config.
    public init(passwordLevel: UInt8, password written: String, operatorCode writtenOperator: String,
                action: DLT645RelayAction, deadline: MeterDateTime) throws(DLT645Error) {
        guard let p = Hex.parse(written), p.count == 3 else { throw .valueOutOfRange("password must be 6 hex digits") }
        guard let c = Hex.parse(writtenOperator), c.count == 4 else { throw .valueOutOfRange("operator code must be 8 hex digits") }
        self.init(passwordLevel: passwordLevel, password: p.reversed(), operatorCode: c.reversed(), action: action.rawValue, deadline: deadline)
    }

    public var data: [UInt8] {
        [passwordLevel] + password.prefix(3) + operatorCode.prefix(4) + [action, 0x00] + deadline.wireSecondsFirst
    }

    /// Parses the data field of a received 0x1C (simulators).
    public init(data: [UInt8]) throws(DLT645Error) {
        guard data.count >= 16 else { throw .truncated(needed: 16, available: data.count) }
        passwordLevel = data[0]
        password = Array(data[1...3])
        operatorCode = Array(data[4...7])
        action = data[8]
        deadline = try MeterDateTime(wireSecondsFirst: data[10...15])
    }

    /// The password as written (`123456`).
    public var writtenPassword: String { password.reversed().map(Hex.byte).joined() }
}

/// Status word 3 (DI 04000503, 2 bytes low first): relay and prepayment state.
public struct DLT645StatusWord3: DLT645StatusWord, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Bit 4: the relay is physically open (load cut).
    public var relayOpen: Bool {
        get { rawValue & 0x0010 != 0 }
        set { set(0x0010, newValue) }
    }
    /// Bit 6: the relay command state is "off" (a trip was accepted; it may lag by a delay).
    public var relayCommandOff: Bool {
        get { rawValue & 0x0040 != 0 }
        set { set(0x0040, newValue) }
    }
    /// Bit 7: pre-trip alarm.
    public var preTripAlarm: Bool {
        get { rawValue & 0x0080 != 0 }
        set { set(0x0080, newValue) }
    }
    /// Bits 8–9: 0 not prepaid, 1 energy prepaid, 2 money prepaid.
    public var prepaymentType: Int { Int(rawValue >> 8 & 0x03) }
    /// Bit 12: keep power on (保电).
    public var keepPower: Bool {
        get { rawValue & 0x1000 != 0 }
        set { set(0x1000, newValue) }
    }

    public var description: String {
        "relay \(relayOpen ? "open" : "closed"), command \(relayCommandOff ? "off" : "on")"
            + (preTripAlarm ? ", pre-trip alarm" : "") + (keepPower ? ", keep power" : "")
    }
}
