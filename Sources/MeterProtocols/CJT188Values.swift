/// Packed BCD, low byte first (as CJ/T 188 sends totals and addresses).
public enum CJT188BCD {
    public static func isValid(_ byte: UInt8) -> Bool { PackedBCD.isValid(byte) }

    /// The number the bytes hold, lowest byte first; nil if a nibble is above 9.
    public static func decodeLowFirst(_ bytes: ArraySlice<UInt8>) -> UInt64? { PackedBCD.decode(bytes) }

    /// `count` bytes lowest first; nil if `value` needs more digits than that.
    public static func encodeLowFirst(_ value: UInt64, count: Int) -> [UInt8]? { PackedBCD.encode(value, count: count) }

    public static func byte(_ value: Int) -> UInt8 { UInt8(value / 10 % 10) << 4 | UInt8(value % 10) }
    public static func value(_ byte: UInt8) -> Int? { PackedBCD.value(byte) }
}

/// The unit code byte after a total or a rate.
public struct CJT188UnitCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let wattHour = Self(rawValue: 0x02)
    public static let kilowattHour = Self(rawValue: 0x05)
    public static let megawattHour = Self(rawValue: 0x08)
    public static let megawattHour100 = Self(rawValue: 0x0A)
    public static let joule = Self(rawValue: 0x01)
    public static let kilojoule = Self(rawValue: 0x0B)
    public static let megajoule = Self(rawValue: 0x0E)
    public static let gigajoule = Self(rawValue: 0x11)
    public static let gigajoule100 = Self(rawValue: 0x13)
    public static let watt = Self(rawValue: 0x14)
    public static let kilowatt = Self(rawValue: 0x17)
    public static let megawatt = Self(rawValue: 0x1A)
    public static let litre = Self(rawValue: 0x29)
    public static let cubicMetre = Self(rawValue: 0x2C)
    public static let litrePerHour = Self(rawValue: 0x32)
    public static let cubicMetrePerHour = Self(rawValue: 0x35)

    /// The code table of CJ/T 188-2004 with the symbols the agent reports.
    public static let table: [(code: CJT188UnitCode, symbol: String)] = [
        (.joule, "J"), (.wattHour, "Wh"), (.kilowattHour, "kWh"), (.megawattHour, "MWh"), (.megawattHour100, "MWh×100"),
        (.kilojoule, "kJ"), (.megajoule, "MJ"), (.gigajoule, "GJ"), (.gigajoule100, "GJ×100"), (.watt, "W"),
        (.kilowatt, "kW"), (.megawatt, "MW"), (.litre, "L"), (.cubicMetre, "m³"), (.litrePerHour, "L/h"),
        (.cubicMetrePerHour, "m³/h"),
    ]

    /// The symbol, or nil for a code outside the table.
    public var symbol: String? { Self.table.first(where: { $0.code == self })?.symbol }

    /// The code for a symbol (`m³`, also `m3`).
    public init?(symbol: String) {
        let wanted = symbol == "m3" ? "m³" : symbol == "m3/h" ? "m³/h" : symbol
        guard let entry = Self.table.first(where: { $0.symbol == wanted }) else { return nil }
        self = entry.code
    }

    public var description: String { symbol ?? "unit 0x" + Hex.byte(rawValue) }
}

/// Valve position from bits D0–D1 of the status word.
public enum CJT188ValveState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case open = 0b00
    case closed = 0b01
    /// `10`: not defined by the standard; reported as it is.
    case undefined = 0b10
    case abnormal = 0b11

    public var description: String {
        switch self {
        case .open: "open"
        case .closed: "closed"
        case .undefined: "undefined"
        case .abnormal: "abnormal"
        }
    }
}

/// The two status bytes ST: first byte D0–D1 valve, D2 battery low; the rest vendor-defined.
///
/// Bits count from the least significant (D0 = 0x01), as the 2004 text and most meters do. One
/// open implementation masks 0xC0 for the valve and 0x20 for the battery (counting from the
/// other end); such a meter needs a profile of its own.
public struct CJT188Status: Sendable, Hashable, CustomStringConvertible {
    public var low: UInt8
    public var high: UInt8

    public init(low: UInt8, high: UInt8) {
        self.low = low
        self.high = high
    }

    public init(valve: CJT188ValveState, batteryLow: Bool, vendorBits: UInt8 = 0, high: UInt8 = 0) {
        low = (vendorBits & 0xF8) | (batteryLow ? 0x04 : 0) | valve.rawValue
        self.high = high
    }

    public var valve: CJT188ValveState { CJT188ValveState(rawValue: low & 0x03)! }
    public var batteryLow: Bool { low & 0x04 != 0 }
    public var valveFault: Bool { valve == .abnormal }

    public var description: String {
        "valve \(valve)" + (batteryLow ? ", battery low" : "") + " (ST " + Hex.byte(low) + " " + Hex.byte(high) + ")"
    }
}

/// The two layouts of CJ/T 188's 7 clock bytes in the wild.
public enum CJT188ClockLayout: Sendable, Hashable {
    /// `ss mm hh DD MM YY CC`: lowest unit first like every other CJ/T 188 field.
    case secondsFirst
    /// `CC YY MM DD hh mm ss`: as written; one implementation sends this.
    case yearFirst
}

/// CJ/T 188's meter clock: 7 BCD bytes with the century, years 1990–2099.
extension MeterDateTime {
    public static let cjt188Years = 1990...2099

    /// Decodes in the preferred layout and falls back to the other one if the bytes make no
    /// date that way. nil for all zeros (a meter without a clock) or no valid date in either.
    public static func cjt188(_ bytes: ArraySlice<UInt8>, preferring layout: CJT188ClockLayout = .secondsFirst) -> MeterDateTime? {
        guard bytes.count == 7, bytes.contains(where: { $0 != 0 }) else { return nil }
        let order: [CJT188ClockLayout] = layout == .secondsFirst ? [.secondsFirst, .yearFirst] : [.yearFirst, .secondsFirst]
        for candidate in order {
            if let clock = cjt188(Array(bytes), layout: candidate) { return clock }
        }
        return nil
    }

    static func cjt188(_ b: [UInt8], layout: CJT188ClockLayout) -> MeterDateTime? {
        var v: [Int] = []
        for byte in b {
            guard let value = CJT188BCD.value(byte) else { return nil }
            v.append(value)
        }
        let clock = switch layout {
        case .secondsFirst: MeterDateTime(year: v[6] * 100 + v[5], month: v[4], day: v[3], hour: v[2], minute: v[1], second: v[0])
        case .yearFirst: MeterDateTime(year: v[0] * 100 + v[1], month: v[2], day: v[3], hour: v[4], minute: v[5], second: v[6])
        }
        return clock.isValid(years: cjt188Years) ? clock : nil
    }

    public func cjt188Bytes(layout: CJT188ClockLayout = .secondsFirst) -> [UInt8] {
        let fields = [second, minute, hour, day, month, year % 100, year / 100].map(CJT188BCD.byte)
        return layout == .secondsFirst ? fields : fields.reversed()
    }
}

/// The DATA of a 901F reply after DI and SER (19 bytes): current total and unit, settlement-day
/// total and unit, meter clock, status word. Totals are 4 bytes BCD, lowest first, XXXXXX.XX.
public struct CJT188CurrentData: Sendable, Hashable {
    public var currentTotal: ExactDecimal
    public var currentUnit: CJT188UnitCode
    public var settlementTotal: ExactDecimal
    public var settlementUnit: CJT188UnitCode
    /// nil when the meter sends no valid clock (all zeros, or not a date).
    public var clock: MeterDateTime?
    public var status: CJT188Status

    public static let byteCount = 19

    public init(currentTotal: ExactDecimal, currentUnit: CJT188UnitCode, settlementTotal: ExactDecimal,
                settlementUnit: CJT188UnitCode, clock: MeterDateTime?, status: CJT188Status) {
        self.currentTotal = currentTotal
        self.currentUnit = currentUnit
        self.settlementTotal = settlementTotal
        self.settlementUnit = settlementUnit
        self.clock = clock
        self.status = status
    }

    /// Decodes the 19 bytes after DI and SER; extra vendor bytes after them are ignored.
    public static func decode(_ payload: ArraySlice<UInt8>, clockLayout: CJT188ClockLayout = .secondsFirst) throws(CJT188Error) -> CJT188CurrentData {
        guard payload.count >= byteCount else { throw .truncated(need: byteCount, have: payload.count) }
        let p = Array(payload)
        guard let current = CJT188BCD.decodeLowFirst(p[0..<4]) else { throw .badBCD(field: "current total") }
        guard let settlement = CJT188BCD.decodeLowFirst(p[5..<9]) else { throw .badBCD(field: "settlement-day total") }
        return CJT188CurrentData(
            currentTotal: ExactDecimal(significand: Int64(current), exponent: -2), currentUnit: CJT188UnitCode(rawValue: p[4]),
            settlementTotal: ExactDecimal(significand: Int64(settlement), exponent: -2), settlementUnit: CJT188UnitCode(rawValue: p[9]),
            clock: MeterDateTime.cjt188(p[10..<17], preferring: clockLayout),
            status: CJT188Status(low: p[17], high: p[18]))
    }

    /// The 19 bytes; nil if a total is negative or does not fit XXXXXX.XX (digits beyond the
    /// hundredths are cut, as a meter's register would).
    public func encoded(clockLayout: CJT188ClockLayout = .secondsFirst) -> [UInt8]? {
        guard let current = Self.hundredths(currentTotal), let settlement = Self.hundredths(settlementTotal),
              let currentBytes = CJT188BCD.encodeLowFirst(current, count: 4),
              let settlementBytes = CJT188BCD.encodeLowFirst(settlement, count: 4) else { return nil }
        let clockBytes = clock?.cjt188Bytes(layout: clockLayout) ?? [UInt8](repeating: 0, count: 7)
        return currentBytes + [currentUnit.rawValue] + settlementBytes + [settlementUnit.rawValue] + clockBytes
            + [status.low, status.high]
    }

    static func hundredths(_ value: ExactDecimal) -> UInt64? {
        guard value.significand >= 0 else { return nil }
        var significand = UInt64(value.significand)
        var exponent = value.exponent + 2
        while exponent < 0 { significand /= 10; exponent += 1 }
        while exponent > 0 {
            let (m, overflow) = significand.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            significand = m
            exponent -= 1
        }
        return significand
    }
}
