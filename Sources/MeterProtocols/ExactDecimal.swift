/// A base-10 number kept exactly: `significand × 10^exponent`.
/// Billing registers must reach the head-end with the meter's own digits (`12345.67` stays
/// `12345.67`), which a binary `Double` cannot promise.
public struct ExactDecimal: Sendable, Hashable, CustomStringConvertible {
    public var significand: Int64
    public var exponent: Int

    public init(significand: Int64, exponent: Int) {
        self.significand = significand
        self.exponent = exponent
    }

    /// Largest exponent magnitude the text parser accepts.
    public static let maxExponent = 64

    public static let one = ExactDecimal(significand: 1, exponent: 0)
    public static let zero = ExactDecimal(significand: 0, exponent: 0)

    /// Parses `-12.5`, `0.01`, `1e-3`, `100`. Returns nil for anything else.
    public init?(_ text: Substring) {
        var chars = Array(text.utf8)
        var exponentPart = 0
        if let e = chars.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard let parsed = Int(String(decoding: chars[(e + 1)...], as: UTF8.self)) else { return nil }
            exponentPart = parsed
            chars = Array(chars[..<e])
        }
        var negative = false
        var index = 0
        if index < chars.count, chars[index] == UInt8(ascii: "-") || chars[index] == UInt8(ascii: "+") {
            negative = chars[index] == UInt8(ascii: "-")
            index += 1
        }
        var significand: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        var digits = 0
        while index < chars.count {
            let c = chars[index]
            if c == UInt8(ascii: ".") {
                if seenDot { return nil }
                seenDot = true
            } else if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                let (m, o1) = significand.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                significand = s
                digits += 1
                if seenDot { fractionDigits += 1 }
            } else {
                return nil
            }
            index += 1
        }
        guard digits > 0 else { return nil }
        // Exponents far beyond any meter's range would make `description` and `doubleValue`
        // loop or allocate without bound (a config could say `scale: 1e999999999`).
        let (exponent, overflow) = exponentPart.subtractingReportingOverflow(fractionDigits)
        guard !overflow, (-Self.maxExponent...Self.maxExponent).contains(exponent) else { return nil }
        self.init(significand: negative ? -significand : significand, exponent: exponent)
    }

    public init?(_ text: String) { self.init(text[...]) }

    public var doubleValue: Double {
        var value = Double(significand)
        if exponent >= 0 {
            for _ in 0..<exponent { value *= 10 }
        } else {
            var divisor = 1.0
            for _ in 0..<(-exponent) { divisor *= 10 }
            value /= divisor
        }
        return value
    }

    /// Exact product; nil when it does not fit in 64 bits.
    public func multiplied(by other: ExactDecimal) -> ExactDecimal? {
        let (p, overflow) = significand.multipliedReportingOverflow(by: other.significand)
        let (e, exponentOverflow) = exponent.addingReportingOverflow(other.exponent)
        return overflow || exponentOverflow ? nil : ExactDecimal(significand: p, exponent: e)
    }

    /// Exact sum; nil when it does not fit in 64 bits.
    public func adding(_ other: ExactDecimal) -> ExactDecimal? {
        var a = self, b = other
        guard a.alignExponent(to: min(a.exponent, b.exponent)), b.alignExponent(to: min(a.exponent, b.exponent)) else { return nil }
        let (s, overflow) = a.significand.addingReportingOverflow(b.significand)
        return overflow ? nil : ExactDecimal(significand: s, exponent: a.exponent)
    }

    /// The same value at the smaller exponent `target` (more significand digits); false, and
    /// unchanged or partly aligned, when it does not fit in 64 bits.
    mutating func alignExponent(to target: Int) -> Bool {
        while exponent > target {
            let (m, overflow) = significand.multipliedReportingOverflow(by: 10)
            if overflow { return false }
            significand = m
            exponent -= 1
        }
        return true
    }

    /// Plain decimal text without exponent, e.g. `12345.67`, `-0.005`, `1200`.
    public var description: String {
        let negative = significand < 0
        let magnitude = String(significand.magnitude)
        var text: String
        if exponent >= 0 {
            text = significand == 0 ? "0" : magnitude + String(repeating: "0", count: exponent)
        } else {
            let fraction = -exponent
            let padded = magnitude.count <= fraction
                ? String(repeating: "0", count: fraction - magnitude.count + 1) + magnitude
                : magnitude
            let split = padded.index(padded.endIndex, offsetBy: -fraction)
            text = String(padded[..<split]) + "." + String(padded[split...])
        }
        return negative && significand != 0 ? "-" + text : text
    }
}
