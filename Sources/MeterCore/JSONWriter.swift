/// Writes JSON by hand because billing values must keep the meter's exact decimal digits, which
/// JSONEncoder would route through Double. It collects UTF-8 bytes: a reading is serialised for
/// every poll of every point, and appending bytes is several times cheaper than appending Strings.
public struct JSONWriter {
    private var bytes: [UInt8] = []

    public init() {}

    public init(capacity: Int) { bytes.reserveCapacity(capacity) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// JSON text that is already valid: punctuation, keys, numbers.
    public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func integer(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        integer(v.magnitude)
    }

    /// Concrete, not generic: a replay writes two integers into every stored reading, and the
    /// generic version's arithmetic goes through protocol witnesses.
    public mutating func integer(_ v: UInt64) {
        // Least significant digit first, then turned around in place: no buffer of its own.
        let start = bytes.count
        var rest = v
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }

    /// Any other integer type (none wider than 64 bits is written).
    public mutating func integer(_ v: some BinaryInteger) {
        if let signed = Int64(exactly: v) { integer(signed) } else { integer(UInt64(clamping: v)) }
    }

    public mutating func bool(_ b: Bool) { raw(b ? "true" : "false") }

    public mutating func string(_ s: String) {
        if Self.needsEscaping(s) {
            bytes.append(contentsOf: Self.quoted(s).utf8)
        } else {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// Point names, units and device ids almost never need escaping: most strings skip the
    /// per-scalar walk.
    static func needsEscaping(_ s: String) -> Bool {
        s.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        guard needsEscaping(s) else { return "\"" + s + "\"" }
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let digits = Array("0123456789abcdef")
                out += "\\u00" + String(digits[Int(scalar.value >> 4)]) + String(digits[Int(scalar.value & 0xF)])
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public mutating func value(_ v: MeterValue?) {
        guard let v else { raw("null"); return }
        switch v {
        case let .bool(b): bool(b)
        default: raw(v.description)
        }
    }
}
