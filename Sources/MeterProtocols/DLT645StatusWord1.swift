/// Status word 1 (DI 04000501, 2 bytes low first): the meter's batteries and power directions.
/// Bit 2 clock battery low, bit 3 meter-reading battery low (停电抄表电池, the one that lets a meter
/// be read during an outage), bit 4 active and bit 5 reactive power reversed (0 forward).
/// Agents read it through a profile's `bits:`; this type is for simulators and tests.
public struct DLT645StatusWord1: Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var payload: [UInt8] { [UInt8(rawValue & 0xFF), UInt8(rawValue >> 8)] }

    /// Bit 2: the clock battery is under voltage.
    public var clockBatteryLow: Bool {
        get { rawValue & 0x0004 != 0 }
        set { set(0x0004, newValue) }
    }

    /// Bit 3: the meter-reading battery is under voltage.
    public var readingBatteryLow: Bool {
        get { rawValue & 0x0008 != 0 }
        set { set(0x0008, newValue) }
    }

    /// Bit 4: active power flows in reverse.
    public var activePowerReversed: Bool {
        get { rawValue & 0x0010 != 0 }
        set { set(0x0010, newValue) }
    }

    private mutating func set(_ bit: UInt16, _ on: Bool) {
        if on { rawValue |= bit } else { rawValue &= ~bit }
    }
}

extension DLT645DataID {
    /// Status word 1: batteries, power directions.
    public static let statusWord1 = DLT645DataID(0x0400_0501)
    /// Total number of meter cover openings (开表盖总次数), 3 bytes BCD.
    public static let coverOpenCount = DLT645DataID(0x0330_0D00)
}
