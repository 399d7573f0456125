/// A DL/T 645 meter address: 6 BCD bytes, lowest byte first on the wire, written most
/// significant digit first on the nameplate (`121078563412` → wire `12 34 56 78 10 12`).
/// `AA` bytes are wildcards (a meter answers whatever its digits there); all `AA` asks any meter
/// for its address; all `99` is broadcast, which no meter answers.
public struct DLT645Address: Sendable, Hashable, CustomStringConvertible {
    /// The 6 bytes in wire order (A0 first).
    public var wire: [UInt8]

    public static let broadcast = DLT645Address(uncheckedWire: [0x99, 0x99, 0x99, 0x99, 0x99, 0x99])
    public static let wildcard = DLT645Address(uncheckedWire: [0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA])

    init(uncheckedWire: [UInt8]) { wire = uncheckedWire }

    /// From the 6 wire bytes; each is two BCD digits or the wildcard `AA`.
    public init(wire bytes: some Collection<UInt8>) throws(DLT645Error) {
        let array = Array(bytes)
        guard array.count == 6 else { throw .badAddress(Hex.bytes(array)) }
        for b in array where b != 0xAA && !DLT645BCD.isBCD(b) { throw .badAddress(Hex.bytes(array)) }
        wire = array
    }

    /// From the written form: 12 characters, decimal digits, `A` pairs as wildcards
    /// (`AAAAAAAAAAAA`, `1210785634AA`). Shorter numbers are not padded: a meter number has 12 digits.
    public init(_ written: String) throws(DLT645Error) {
        let chars = Array(written.utf8)
        guard chars.count == 12 else { throw .badAddress(written) }
        var bytes: [UInt8] = []
        for i in stride(from: 10, through: 0, by: -2) {
            let hi = chars[i], lo = chars[i + 1]
            if hi == UInt8(ascii: "A") && lo == UInt8(ascii: "A") {
                bytes.append(0xAA)
            } else if (0x30...0x39).contains(hi) && (0x30...0x39).contains(lo) {
                bytes.append((hi - 0x30) << 4 | (lo - 0x30))
            } else {
                throw .badAddress(written)
            }
        }
        wire = bytes
    }

    /// As written on the nameplate: most significant byte first.
    public var written: String {
        wire.reversed().map(Hex.byte).joined()
    }

    public var description: String { written }

    public var isBroadcast: Bool { wire.allSatisfy { $0 == 0x99 } }
    /// Contains at least one `AA` wildcard byte.
    public var hasWildcard: Bool { wire.contains(0xAA) }
    /// A single meter's full address: no wildcard, not broadcast.
    public var isUnicast: Bool { !isBroadcast && !hasWildcard }

    /// Whether a meter with address `meter` must answer a request sent to `self`: every byte equal
    /// or a wildcard. A broadcast reaches every meter, which then stays silent.
    public func reaches(_ meter: DLT645Address) -> Bool {
        if isBroadcast { return true }
        for i in 0..<6 where wire[i] != 0xAA && wire[i] != meter.wire[i] { return false }
        return true
    }
}
