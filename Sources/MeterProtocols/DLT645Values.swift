/// Packed BCD as DL/T 645 sends it: two digits per byte, least significant byte first.
public enum DLT645BCD {
    public static func isBCD(_ b: UInt8) -> Bool { PackedBCD.isValid(b) }

    /// 0–99 → one BCD byte.
    public static func byte(_ value: Int) -> UInt8 {
        let v = UInt8(clamping: max(0, min(99, value)))
        return (v / 10) << 4 | (v % 10)
    }

    /// One BCD byte → 0–99.
    public static func value(_ b: UInt8) throws(DLT645Error) -> Int {
        guard let pair = PackedBCD.value(b) else { throw .badBCD(b) }
        return pair
    }

    /// Unsigned BCD, least significant byte first, as an integer (at most 18 digits).
    public static func integer(_ bytes: some BidirectionalCollection<UInt8>) throws(DLT645Error) -> Int64 {
        guard bytes.count <= 9 else { throw .valueOutOfRange("\(bytes.count) BCD bytes") }
        guard let value = PackedBCD.decode(bytes) else {
            throw .badBCD(bytes.reversed().first { !isBCD($0) } ?? 0)
        }
        return Int64(value)
    }

    /// `value` as `count` BCD bytes, least significant first; fails if it needs more digits.
    public static func bytes(_ value: Int64, count: Int) throws(DLT645Error) -> [UInt8] {
        guard value >= 0 else { throw .valueOutOfRange("\(value) is negative") }
        guard let out = PackedBCD.encode(UInt64(value), count: count) else {
            throw .valueOutOfRange("\(value) needs more than \(count * 2) digits")
        }
        return out
    }
}

/// A data item's encoding: BCD digits with implied decimals (`XXXXXX.XX`), optionally signed by
/// bit 7 of the most significant byte; a raw little-endian word (`NNNN`, status words); or a
/// calendar field (`YYMMDDWW`, `hhmmss`, `YYMMDDhhmmss`).
public enum DLT645ValueFormat: Sendable, Hashable {
    case bcd(digits: Int, decimals: Int, signed: Bool)
    case binary(bytes: Int)
    case clock(DLT645ClockPattern)

    public var byteCount: Int {
        switch self {
        case let .bcd(digits, _, _): (digits + 1) / 2
        case let .binary(bytes): bytes
        case let .clock(pattern): pattern.byteCount
        }
    }

    /// Decodes a data item (bytes after the DI, already without the 0x33 offset).
    public func decode(_ bytes: some Collection<UInt8>) throws(DLT645Error) -> ExactDecimal {
        let data = Array(bytes)
        guard data.count >= byteCount else { throw .truncated(needed: byteCount, available: data.count) }
        let item = Array(data.prefix(byteCount))
        switch self {
        case let .bcd(_, decimals, signed):
            var magnitude = item
            var negative = false
            if signed, let top = magnitude.last {
                negative = top & 0x80 != 0
                magnitude[magnitude.count - 1] = top & 0x7F
            }
            let value = try DLT645BCD.integer(magnitude)
            return ExactDecimal(significand: negative ? -value : value, exponent: -decimals)
        case .binary:
            var value: Int64 = 0
            for b in item.reversed() { value = value << 8 | Int64(b) }
            return ExactDecimal(significand: value, exponent: 0)
        case let .clock(pattern):
            return ExactDecimal(significand: try pattern.decodeNumber(item), exponent: 0)
        }
    }

    /// Encodes `value` (rounded half away from zero to the format's decimals) for a reply.
    public func encode(_ value: ExactDecimal) throws(DLT645Error) -> [UInt8] {
        switch self {
        case let .bcd(_, decimals, signed):
            guard let scaled = value.rescaled(toExponent: -decimals) else { throw .valueOutOfRange(value.description) }
            let negative = scaled < 0
            guard signed || !negative else { throw .valueOutOfRange("\(value) is negative in an unsigned format") }
            var out = try DLT645BCD.bytes(negative ? -scaled : scaled, count: byteCount)
            if signed {
                guard out[out.count - 1] & 0x80 == 0 else { throw .valueOutOfRange("\(value) needs the sign bit") }
                if negative { out[out.count - 1] |= 0x80 }
            }
            return out
        case let .binary(bytes):
            guard let raw = value.rescaled(toExponent: 0), raw >= 0 else { throw .valueOutOfRange(value.description) }
            return (0..<bytes).map { UInt8(truncatingIfNeeded: raw >> (8 * $0)) }
        case let .clock(pattern):
            guard let raw = value.rescaled(toExponent: 0) else { throw .valueOutOfRange(value.description) }
            return try pattern.encodeNumber(raw)
        }
    }
}

extension ExactDecimal {
    /// The significand at `exponent`, rounding half away from zero; nil on overflow.
    public func rescaled(toExponent target: Int) -> Int64? {
        var s = significand
        var e = exponent
        while e > target {
            let (m, o) = s.multipliedReportingOverflow(by: 10)
            if o { return nil }
            s = m
            e -= 1
        }
        // Only the most significant dropped digit decides half-away-from-zero rounding.
        var remainder: Int64 = 0
        while e < target {
            remainder = s % 10
            s /= 10
            e += 1
        }
        if remainder >= 5 { s += 1 } else if remainder <= -5 { s -= 1 }
        return s
    }
}

/// The calendar fields DL/T 645 uses, each written most significant field first; on the wire
/// the bytes come in the opposite order (`hhmmss` is sent ss mm hh).
public enum DLT645ClockPattern: String, Sendable, Hashable, CaseIterable {
    /// Date and weekday (DI 04000101), 0 = Sunday.
    case date = "YYMMDDWW"
    /// Time of day (DI 04000102).
    case time = "hhmmss"
    /// Date and time (broadcast time, command deadlines).
    case dateTime = "YYMMDDhhmmss"

    public var byteCount: Int { rawValue.count / 2 }

    /// The fields as a decimal number read in the written order: 26112503 for a
    /// `YYMMDDWW` of 2026-11-25 (Wednesday), 170501 for 17:05:01.
    func decodeNumber(_ wire: [UInt8]) throws(DLT645Error) -> Int64 {
        var value: Int64 = 0
        for b in wire.reversed() { value = value * 100 + Int64(try DLT645BCD.value(b)) }
        return value
    }

    func encodeNumber(_ number: Int64) throws(DLT645Error) -> [UInt8] {
        try DLT645BCD.bytes(number, count: byteCount)
    }
}

/// DL/T 645's calendar: two-digit years 2000–2099, BCD fields.
extension MeterDateTime {
    public static let dlt645Years = 2000...2099

    /// Wire bytes `ss mm hh DD MM YY` (broadcast time data, relay command deadline).
    public var wireSecondsFirst: [UInt8] {
        [second, minute, hour, day, month, year % 100].map(DLT645BCD.byte)
    }

    /// From wire bytes `ss mm hh DD MM YY`.
    public init(wireSecondsFirst b: some Collection<UInt8>) throws(DLT645Error) {
        let a = Array(b)
        guard a.count >= 6 else { throw .truncated(needed: 6, available: a.count) }
        self.init(year: 2000 + (try DLT645BCD.value(a[5])), month: try DLT645BCD.value(a[4]), day: try DLT645BCD.value(a[3]),
                  hour: try DLT645BCD.value(a[2]), minute: try DLT645BCD.value(a[1]), second: try DLT645BCD.value(a[0]))
        guard isValid(years: Self.dlt645Years) else { throw .badDate(Hex.bytes(a)) }
    }

    /// Wire bytes of DI 04000101 (`YYMMDDWW`): WW DD MM YY.
    public var wireDate: [UInt8] { [weekday, day, month, year % 100].map(DLT645BCD.byte) }
    /// Wire bytes of DI 04000102 (`hhmmss`): ss mm hh.
    public var wireTime: [UInt8] { [second, minute, hour].map(DLT645BCD.byte) }
}
