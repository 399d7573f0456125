/// Base64 of RFC 4648 section 4 (standard alphabet, `=` padding), as signed command envelopes and
/// public keys in site configs carry it. Decoding is strict: a signature check must see exactly the
/// bytes the head-end signed, so text that a lenient decoder would repair (whitespace, missing or
/// extra padding, URL-safe letters, non-zero bits after the last byte) is refused instead.
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next(), b2 = b1 == nil ? nil : iterator.next()
            let group = UInt32(b0) << 16 | UInt32(b1 ?? 0) << 8 | UInt32(b2 ?? 0)
            out.append(alphabet[Int(group >> 18 & 0x3F)])
            out.append(alphabet[Int(group >> 12 & 0x3F)])
            out.append(b1 == nil ? UInt8(ascii: "=") : alphabet[Int(group >> 6 & 0x3F)])
            out.append(b2 == nil ? UInt8(ascii: "=") : alphabet[Int(group & 0x3F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of padded standard Base64; nil for any other text (see the type's comment).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var start = 0
        while start < chars.count {
            let last = start + 4 == chars.count
            // Padding only in the last group, as its last one or two characters.
            let padding = !last ? 0 : chars[start + 3] != UInt8(ascii: "=") ? 0 : chars[start + 2] != UInt8(ascii: "=") ? 1 : 2
            var group: UInt32 = 0
            for i in 0..<4 {
                if i >= 4 - padding {
                    group <<= 6
                    continue
                }
                guard let v = value(chars[start + i]) else { return nil }
                group = group << 6 | UInt32(v)
            }
            out.append(UInt8(group >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(group >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(group & 0xFF)) }
            // The bits below the last byte must be zero (RFC 4648 section 3.5): otherwise two texts
            // would decode to the same bytes.
            if padding == 1, group & 0xFF != 0 { return nil }
            if padding == 2, group & 0xFFFF != 0 { return nil }
            start += 4
        }
        return out
    }

    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
