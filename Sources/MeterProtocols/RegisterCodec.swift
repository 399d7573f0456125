public enum RegisterDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer registers than the type needs.
    case tooFewRegisters(needed: Int, got: Int)
    /// A BCD nibble above 9.
    case invalidBCD(register: UInt16)

    public var description: String {
        switch self {
        case let .tooFewRegisters(needed, got): "needs \(needed) registers, got \(got)"
        case let .invalidBCD(register): "register 0x\(Hex.word(register)) is not BCD"
        }
    }
}

public enum RegisterEncodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value does not fit the type (see `RegisterCodec.encode`).
    case outOfRange(RawValue, ValueType)

    public var description: String {
        switch self {
        case let .outOfRange(value, type): "\(value) does not fit \(type.rawValue)"
        }
    }
}

/// Turns registers into raw values and back, for every `ValueType` and `WordOrder`.
public enum RegisterCodec {
    /// Decodes `type` from the first `type.registerCount` registers of `registers`.
    public static func decode(
        _ registers: some Collection<UInt16>, as type: ValueType, order: WordOrder
    ) throws(RegisterDecodeError) -> RawValue {
        guard registers.count >= type.registerCount else {
            throw .tooFewRegisters(needed: type.registerCount, got: registers.count)
        }
        let bits = combine(registers.prefix(type.registerCount), order: order)
        switch type {
        case .bool: return .bit(bits != 0)
        case .u16, .u32, .u64: return .unsigned(bits)
        case .i16: return .signed(Int64(Int16(truncatingIfNeeded: bits)))
        case .i32: return .signed(Int64(Int32(truncatingIfNeeded: bits)))
        case .i64: return .signed(Int64(bitPattern: bits))
        case .f32: return .float(Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits))))
        case .f64: return .float(Double(bitPattern: bits))
        case .bcd16, .bcd32:
            var value: UInt64 = 0
            let nibbles = type.registerCount * 4
            for i in stride(from: nibbles - 1, through: 0, by: -1) {
                let digit = (bits >> UInt64(i * 4)) & 0xF
                guard digit <= 9 else {
                    throw .invalidBCD(register: UInt16(truncatingIfNeeded: bits >> UInt64((i / 4) * 16)))
                }
                value = value * 10 + digit
            }
            return .unsigned(value)
        }
    }

    /// Encodes `value` as `type` in `order`. A value the type cannot hold is an error, never
    /// truncated: an integer beyond the type's width, a negative value as an unsigned type or BCD,
    /// more decimal digits than the BCD registers hold, a NaN or infinite float as an integer, a
    /// finite float beyond f32's range. Floats become integers rounded to the nearest.
    public static func encode(_ value: RawValue, as type: ValueType, order: WordOrder) throws(RegisterEncodeError) -> [UInt16] {
        let bits: UInt64
        switch type {
        case .bool:
            bits = value.asBit ? 1 : 0
        case .u16, .u32, .u64, .i16, .i32, .i64:
            bits = UInt64(truncatingIfNeeded: try integer(value, as: type))
        case .f32:
            let float = Float(value.asDouble)
            guard float.isFinite || !value.asDouble.isFinite else { throw .outOfRange(value, type) }
            bits = UInt64(float.bitPattern)
        case .f64:
            bits = value.asDouble.bitPattern
        case .bcd16, .bcd32:
            var decimal = UInt64(try integer(value, as: type))
            var packed: UInt64 = 0
            for i in 0..<(type.registerCount * 4) {
                packed |= (decimal % 10) << UInt64(i * 4)
                decimal /= 10
            }
            bits = packed
        }
        return split(bits, count: type.registerCount, order: order)
    }

    /// `value` as an integer within the range of `type`, or `.outOfRange`.
    static func integer(_ value: RawValue, as type: ValueType) throws(RegisterEncodeError) -> Int128 {
        let integer: Int128?
        switch value {
        case let .signed(v): integer = Int128(v)
        case let .unsigned(v): integer = Int128(v)
        case let .float(v): integer = v.isFinite ? Int128(exactly: v.rounded()) : nil
        case let .bit(b): integer = b ? 1 : 0
        }
        let range: ClosedRange<Int128> = switch type {
        case .u16: 0...Int128(UInt16.max)
        case .i16: Int128(Int16.min)...Int128(Int16.max)
        case .u32: 0...Int128(UInt32.max)
        case .i32: Int128(Int32.min)...Int128(Int32.max)
        case .u64: 0...Int128(UInt64.max)
        case .i64: Int128(Int64.min)...Int128(Int64.max)
        case .bcd16: 0...9_999
        case .bcd32: 0...99_999_999
        case .bool: 0...1
        case .f32, .f64: Int128.min...Int128.max
        }
        guard let integer, range.contains(integer) else { throw .outOfRange(value, type) }
        return integer
    }

    /// Registers as they sit in the device, most significant word first before `order` applies.
    static func combine(_ registers: some Collection<UInt16>, order: WordOrder) -> UInt64 {
        var words = Array(registers)
        if order.lowWordFirst { words.reverse() }
        var bits: UInt64 = 0
        for word in words {
            let w = order.bytesSwapped ? word.byteSwapped : word
            bits = (bits << 16) | UInt64(w)
        }
        return bits
    }

    static func split(_ bits: UInt64, count: Int, order: WordOrder) -> [UInt16] {
        var words = [UInt16](repeating: 0, count: count)
        for i in 0..<count {
            let shift = UInt64((count - 1 - i) * 16)
            let word = UInt16(truncatingIfNeeded: bits >> shift)
            words[i] = order.bytesSwapped ? word.byteSwapped : word
        }
        if order.lowWordFirst { words.reverse() }
        return words
    }
}

extension RawValue {
    public var asDouble: Double {
        switch self {
        case let .signed(v): Double(v)
        case let .unsigned(v): Double(v)
        case let .float(v): v
        case let .bit(b): b ? 1 : 0
        }
    }

    public var asInt64: Int64 {
        switch self {
        case let .signed(v): v
        case let .unsigned(v): Int64(bitPattern: v)
        case let .float(v): v.isFinite ? Int64(exactly: v.rounded()) ?? (v < 0 ? .min : .max) : 0
        case let .bit(b): b ? 1 : 0
        }
    }

    public var asBit: Bool {
        switch self {
        case let .bit(b): b
        default: asDouble != 0
        }
    }
}
