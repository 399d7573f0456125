/// A CJ/T 188-2004 meter address: 7 bytes of BCD, 14 digits.
///
/// On the wire the lowest byte (A0) comes first; people write the address the other way round,
/// as printed on the meter (`00000000001234` is sent `34 12 00 00 00 00 00`). A byte `AA` is a
/// wildcard: a request to `AA AA AA AA AA AA AA` reaches whichever meter is on the line.
public struct CJT188Address: Sendable, Hashable, CustomStringConvertible {
    /// A0 … A6, as sent.
    public private(set) var wire: [UInt8]

    public static let byteCount = 7
    public static let wildcardByte: UInt8 = 0xAA
    /// Every byte a wildcard: reaches any single meter (read address).
    public static let wildcard = CJT188Address(uncheckedWire: [UInt8](repeating: 0xAA, count: 7))

    init(uncheckedWire: [UInt8]) { wire = uncheckedWire }

    /// Seven bytes in wire order; each a BCD pair or the wildcard `AA`.
    public init?(wire bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        for byte in bytes where byte != Self.wildcardByte && !CJT188BCD.isValid(byte) { return nil }
        wire = bytes
    }

    /// 14 characters as written on the meter (most significant first): decimal digits, or `AA`
    /// in place of a byte as a wildcard.
    public init?(written text: String) {
        let chars = Array(text.utf8)
        guard chars.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        var i = chars.count - 2
        while i >= 0 {
            let high = chars[i], low = chars[i + 1]
            let isA: (UInt8) -> Bool = { $0 == UInt8(ascii: "A") || $0 == UInt8(ascii: "a") }
            if isA(high) && isA(low) {
                bytes.append(Self.wildcardByte)
            } else {
                guard let h = Self.digit(high), let l = Self.digit(low) else { return nil }
                bytes.append(h << 4 | l)
            }
            i -= 2
        }
        wire = bytes
    }

    private static func digit(_ c: UInt8) -> UInt8? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : nil
    }

    /// As written on the meter: A6 first, 14 characters.
    public var written: String {
        var text = ""
        for byte in wire.reversed() { text += Hex.byte(byte) }
        return text
    }

    public var description: String { written }

    /// True if any byte is the wildcard.
    public var hasWildcard: Bool { wire.contains(Self.wildcardByte) }

    /// True if a frame sent to `self` (which may hold wildcards) reaches the meter at `address`.
    public func reaches(_ address: CJT188Address) -> Bool {
        for i in 0..<Self.byteCount where wire[i] != Self.wildcardByte && wire[i] != address.wire[i] {
            return false
        }
        return true
    }
}

/// Meter type byte T: what kind of meter a frame is for or from.
public struct CJT188MeterType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let coldWater = Self(rawValue: 0x10)
    public static let hotWater = Self(rawValue: 0x11)
    public static let drinkingWater = Self(rawValue: 0x12)
    public static let reclaimedWater = Self(rawValue: 0x13)
    public static let heat = Self(rawValue: 0x20)
    public static let cooling = Self(rawValue: 0x21)
    public static let gas = Self(rawValue: 0x30)
    public static let electricity = Self(rawValue: 0x40)
    /// Any type; used with the wildcard address to read an unknown meter's address.
    public static let wildcard = Self(rawValue: 0xAA)

    /// Names a profile may use for `meter_type`.
    public static let named: [(name: String, type: CJT188MeterType)] = [
        ("cold_water", .coldWater), ("hot_water", .hotWater), ("drinking_water", .drinkingWater),
        ("reclaimed_water", .reclaimedWater), ("heat", .heat), ("cooling", .cooling), ("gas", .gas),
        ("electricity", .electricity),
    ]

    /// A name from `named`, or the byte in hex (`0x10`, `10`).
    public init?(name text: String) {
        if let match = Self.named.first(where: { $0.name == text }) {
            self = match.type
            return
        }
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard digits.count == 2, let value = UInt8(String(digits), radix: 16) else { return nil }
        self.init(rawValue: value)
    }

    public var description: String {
        Self.named.first(where: { $0.type == self }).map(\.name) ?? "0x" + Hex.byte(rawValue)
    }
}
