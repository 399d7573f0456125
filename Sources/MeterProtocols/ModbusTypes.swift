/// The four Modbus data tables a point can live in.
public enum RegisterTable: String, Sendable, Hashable, CaseIterable {
    case holding, input, coil, discrete

    /// Coils and discrete inputs are bits; holding and input registers are 16-bit words.
    public var isBitTable: Bool { self == .coil || self == .discrete }

    /// The Modbus function code that reads this table.
    public var readFunction: UInt8 {
        switch self {
        case .coil: 0x01
        case .discrete: 0x02
        case .holding: 0x03
        case .input: 0x04
        }
    }
}

/// How a value is laid out in one or more registers.
public enum ValueType: String, Sendable, Hashable, CaseIterable {
    case u16, i16, u32, i32, u64, i64, f32, f64, bcd16, bcd32, bool

    /// Registers (or bits, for `bool`) the value occupies.
    public var registerCount: Int {
        switch self {
        case .u16, .i16, .bcd16, .bool: 1
        case .u32, .i32, .f32, .bcd32: 2
        case .u64, .i64, .f64: 4
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f64 }
}

/// Byte order of a multi-register value, named after where bytes A (most significant) to D land.
/// `ABCD` is big-endian words, high word first; `CDAB` swaps words; `BADC` swaps bytes inside
/// each word; `DCBA` does both. For 64-bit values the same two swaps apply to four words.
public enum WordOrder: String, Sendable, Hashable, CaseIterable {
    case ABCD, CDAB, BADC, DCBA

    public var lowWordFirst: Bool { self == .CDAB || self == .DCBA }
    public var bytesSwapped: Bool { self == .BADC || self == .DCBA }
}

/// A value as the meter holds it, before scale and offset.
public enum RawValue: Sendable, Equatable {
    case signed(Int64)
    case unsigned(UInt64)
    case float(Double)
    case bit(Bool)
}

/// Modbus protocol limits (Modbus Application Protocol V1.1b3 §6).
public enum ModbusLimits {
    public static let maxReadRegisters = 125
    public static let maxWriteRegisters = 123
    public static let maxReadBits = 2000
    public static let maxWriteBits = 1968
    public static let maxRTUFrame = 256
    public static let addressSpace = 65536
}

/// A Modbus exception code as sent in an exception reply (function | 0x80, then this code).
public struct ModbusExceptionCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let illegalFunction = Self(rawValue: 0x01)
    public static let illegalDataAddress = Self(rawValue: 0x02)
    public static let illegalDataValue = Self(rawValue: 0x03)
    public static let serverDeviceFailure = Self(rawValue: 0x04)
    public static let acknowledge = Self(rawValue: 0x05)
    public static let serverDeviceBusy = Self(rawValue: 0x06)
    public static let gatewayPathUnavailable = Self(rawValue: 0x0A)
    public static let gatewayTargetFailed = Self(rawValue: 0x0B)

    public var description: String {
        switch rawValue {
        case 0x01: "illegal function"
        case 0x02: "illegal data address"
        case 0x03: "illegal data value"
        case 0x04: "server device failure"
        case 0x05: "acknowledge"
        case 0x06: "server device busy"
        case 0x0A: "gateway path unavailable"
        case 0x0B: "gateway target device failed to respond"
        default: "exception 0x" + Hex.byte(rawValue)
        }
    }
}
