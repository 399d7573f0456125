/// An EM4100 tag as 125 kHz readers report it: 5 bytes, a version (customer) byte and a 32-bit
/// tag number, most significant first.
public struct EM4100Tag: Sendable, Hashable {
    public static let byteCount = 5
    public let bytes: [UInt8]

    /// Nil unless `bytes` has exactly 5 bytes: EM4100 carries no other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// The 32-bit number printed on many fobs and cards (without the version byte).
    public var tagNumber: UInt32 {
        bytes[1...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}

/// The frame an RDM6300-style module streams for a tag in its field (9600 8N1): `02`, the 5 tag
/// bytes as 10 ASCII hex digits, their XOR as 2 ASCII hex digits, `03` — 14 bytes, upper-case
/// digits. The module repeats it for as long as the tag stays in the field.
public enum RDM6300Frame {
    public static let start: UInt8 = 0x02
    public static let end: UInt8 = 0x03
    public static let length = 14

    /// XOR of the tag bytes.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        bytes.reduce(0, ^)
    }

    public static func encode(_ tag: EM4100Tag) -> [UInt8] {
        var frame: [UInt8] = [start]
        frame.reserveCapacity(length)
        for byte in tag.bytes + [checksum(tag.bytes)] {
            frame.append(asciiHex(byte >> 4))
            frame.append(asciiHex(byte & 0x0F))
        }
        frame.append(end)
        return frame
    }

    static func asciiHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }
}
