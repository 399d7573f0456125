/// Hex text for messages and written identifiers (upper-case digits, two per byte), and back: the
/// one set of hex helpers of the codecs.
public enum Hex {
    static let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]

    public static func byte(_ b: UInt8) -> String {
        String([digits[Int(b >> 4)], digits[Int(b & 0x0F)]])
    }

    /// `0x901F` → `901F`: four digits, most significant byte first.
    public static func word(_ w: UInt16) -> String {
        byte(UInt8(w >> 8)) + byte(UInt8(w & 0xFF))
    }

    /// `68 12 34 …`
    public static func bytes(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map(byte).joined(separator: " ")
    }

    /// `1A2B3C4D`: the bytes in order with no spaces, for values that are no number (a random, a
    /// serial) and for data written into JSON.
    public static func compact(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map(byte).joined()
    }

    /// Parses `68 12 34` or `681234` (spaces ignored); nil on anything else.
    public static func parse(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var high: UInt8?
        for c in text.utf8 {
            if c == 0x20 { continue }
            guard let v = nibble(c) else { return nil }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
