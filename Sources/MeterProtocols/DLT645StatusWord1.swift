/// A DL/T 645 status word: 2 bytes, low byte first, one flag per bit.
public protocol DLT645StatusWord {
    var rawValue: UInt16 { get set }
    init(rawValue: UInt16)
}

extension DLT645StatusWord {
    /// From the 2 payload bytes (low byte first).
    public init(payload: some Collection<UInt8>) throws(DLT645Error) {
        let a = Array(payload.prefix(2))
        guard a.count == 2 else { throw .truncated(needed: 2, available: a.count) }
        self.init(rawValue: UInt16(a[0]) | UInt16(a[1]) << 8)
    }

    public var payload: [UInt8] { [UInt8(rawValue & 0xFF), UInt8(rawValue >> 8)] }

    mutating func set(_ bit: UInt16, _ on: Bool) {
        if on { rawValue |= bit } else { rawValue &= ~bit }
    }
}

/// Status word 1 (DI 04000501, 2 bytes low first): the meter's batteries and power directions.
/// Bit 2 clock battery low, bit 3 meter-reading battery low (停电抄表电池, the one that lets a meter
/// be read during an outage), bit 4 active and bit 5 reactive power reversed (0 forward).
/// Agents read it through a profile's `bits:`; this type is for simulators and tests.
public struct DLT645StatusWord1: DLT645StatusWord, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

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
}
