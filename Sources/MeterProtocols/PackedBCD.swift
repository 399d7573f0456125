/// Packed BCD, two decimal digits per byte, least significant byte first: how DL/T 645 and
/// CJ/T 188 both send numbers and addresses. Their own enums add each protocol's errors.
enum PackedBCD {
    static func isValid(_ byte: UInt8) -> Bool { byte >> 4 <= 9 && byte & 0x0F <= 9 }

    /// 0–99 from one byte; nil if a nibble is above 9.
    static func value(_ byte: UInt8) -> Int? {
        isValid(byte) ? Int(byte >> 4) * 10 + Int(byte & 0x0F) : nil
    }

    /// The number the bytes hold; nil if a nibble is above 9.
    static func decode(_ bytes: some BidirectionalCollection<UInt8>) -> UInt64? {
        var result: UInt64 = 0
        for byte in bytes.reversed() {
            guard let pair = value(byte) else { return nil }
            result = result * 100 + UInt64(pair)
        }
        return result
    }

    /// `count` bytes; nil if `value` needs more digits than that.
    static func encode(_ value: UInt64, count: Int) -> [UInt8]? {
        var rest = value
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for _ in 0..<count {
            let pair = rest % 100
            bytes.append(UInt8(pair / 10) << 4 | UInt8(pair % 10))
            rest /= 100
        }
        return rest == 0 ? bytes : nil
    }
}
