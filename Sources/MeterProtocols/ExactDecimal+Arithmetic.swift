/// Arithmetic for money: the prepaid balance, prices and credits are kept as exact decimals, never
/// rounded through a binary float. Every operation that could overflow 64 bits returns nil instead
/// of trapping or losing digits; rounding happens only where a caller asks for it.
///
/// No `Comparable` conformance: `==` stays the synthesised one (same significand and exponent, which
/// billing readings rely on to keep the meter's digits), while `compare` orders by value.
extension ExactDecimal {
    /// -1, 0 or 1. Exact for every pair of values (no alignment that could overflow).
    public func compare(_ other: ExactDecimal) -> Int {
        let a = signum, b = other.signum
        if a != b { return a < b ? -1 : 1 }
        if a == 0 { return 0 }
        let magnitude = Self.compareMagnitudes(significand.magnitude, exponent, other.significand.magnitude, other.exponent)
        return a > 0 ? magnitude : -magnitude
    }

    /// Compares `m1 × 10^e1` with `m2 × 10^e2` (both non-zero) by their order of magnitude first;
    /// with equal orders both fit in 19 digits after alignment, which a UInt64 holds.
    private static func compareMagnitudes(_ m1: UInt64, _ e1: Int, _ m2: UInt64, _ e2: Int) -> Int {
        let o1 = digitCount(m1) + e1, o2 = digitCount(m2) + e2
        if o1 != o2 { return o1 < o2 ? -1 : 1 }
        var a = m1, b = m2
        for _ in 0..<(e1 - min(e1, e2)) { a *= 10 }
        for _ in 0..<(e2 - min(e1, e2)) { b *= 10 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }

    private static func digitCount(_ m: UInt64) -> Int {
        var n = 1, v = m
        while v >= 10 { v /= 10; n += 1 }
        return n
    }

    /// Same value, whatever the spelling (`1.50` and `1.5`).
    public func hasSameValue(as other: ExactDecimal) -> Bool { compare(other) == 0 }

    public var signum: Int { significand == 0 ? 0 : (significand < 0 ? -1 : 1) }
    public var isZero: Bool { significand == 0 }
    public var isPositive: Bool { significand > 0 }

    /// nil only for the one significand that has no negative (Int64.min).
    public var negated: ExactDecimal? {
        significand == .min ? nil : ExactDecimal(significand: -significand, exponent: exponent)
    }

    /// Exact difference; nil when it does not fit in 64 bits.
    public func subtracting(_ other: ExactDecimal) -> ExactDecimal? {
        guard let minus = other.negated else { return nil }
        return adding(minus)
    }

    /// The same value with trailing zeros of the significand moved into the exponent (`1.500` →
    /// `1.5`, `0.00` → `0`), so that sums of many terms do not carry more digits than they need.
    public var normalized: ExactDecimal {
        guard significand != 0 else { return ExactDecimal(significand: 0, exponent: 0) }
        var n = self
        while n.significand % 10 == 0 && n.exponent < Self.maxExponent {
            n.significand /= 10
            n.exponent += 1
        }
        return n
    }

    /// Digits after the decimal point as written (`12.50` has 2, `1e3` has 0).
    public var fractionDigits: Int { max(0, -exponent) }

    /// Rounded to `10^exponent` (half to even, so that many roundings do not drift one way);
    /// unchanged when it has no finer digits. nil when the result does not fit in 64 bits.
    public func rounded(toExponent target: Int) -> ExactDecimal? {
        if exponent >= target {
            var n = self
            return n.alignExponent(to: target) ? n : nil
        }
        let drop = target - exponent
        // More than 18 digits to drop: the whole significand is below half a unit of the target.
        guard drop <= 18 else { return ExactDecimal(significand: 0, exponent: target) }
        var divisor: Int64 = 1
        for _ in 0..<drop { divisor *= 10 }
        return ExactDecimal(significand: Self.divideRoundingHalfEven(significand, by: divisor), exponent: target)
    }

    /// The largest whole number not above the value (`-0.5` → `-1`), for "crossed a whole
    /// currency unit". nil when it does not fit in an Int64.
    public var floorInteger: Int64? {
        if exponent >= 0 {
            var v = significand
            for _ in 0..<exponent {
                let (m, overflow) = v.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                v = m
            }
            return v
        }
        guard -exponent <= 18 else { return significand < 0 ? -1 : 0 }
        var divisor: Int64 = 1
        for _ in 0..<(-exponent) { divisor *= 10 }
        let (q, r) = significand.quotientAndRemainder(dividingBy: divisor)
        return r < 0 ? q - 1 : q
    }

    /// `self × numerator / denominator` (0 ≤ numerator ≤ denominator), rounded half to even at
    /// `10^exponent`: a share of a quantity, e.g. the part of a meter's advance that falls into
    /// one tariff period. nil when the value at that exponent does not fit in 64 bits. (A value
    /// with finer digits than `10^exponent` is shared at its own exponent first, then rounded: two
    /// roundings, which local cost control never needs — it shares at finer exponents.)
    public func share(_ numerator: Int64, of denominator: Int64, exponent target: Int) -> ExactDecimal? {
        guard denominator > 0, numerator >= 0, numerator <= denominator, let scaled = rounded(toExponent: min(target, exponent)) else {
            return nil
        }
        // The 128-bit product cannot overflow, and the quotient is at most `scaled`: it fits.
        let product = scaled.significand.multipliedFullWidth(by: numerator)
        let (quotient, remainder) = denominator.dividingFullWidth(product)
        let q = Self.roundHalfEven(quotient, remainder: remainder, divisor: denominator)
        return ExactDecimal(significand: q, exponent: scaled.exponent).rounded(toExponent: target)
    }

    /// A binary float (a meter's IEEE-754 register) as a decimal with `fractionDigits` digits,
    /// rounded half to even; nil for NaN, infinities and values beyond 64 bits.
    public init?(rounding value: Double, fractionDigits: Int) {
        guard value.isFinite, (0...12).contains(fractionDigits) else { return nil }
        var scale = 1.0
        for _ in 0..<fractionDigits { scale *= 10 }
        let scaled = (value * scale).rounded(.toNearestOrEven)
        guard scaled.magnitude < 9.0e18 else { return nil }
        self.init(significand: Int64(scaled), exponent: -fractionDigits)
    }

    private static func divideRoundingHalfEven(_ value: Int64, by divisor: Int64) -> Int64 {
        let (q, r) = value.quotientAndRemainder(dividingBy: divisor)
        return roundHalfEven(q, remainder: r, divisor: divisor)
    }

    /// The quotient `q` of a division by `divisor` (> 0) that left `remainder`, rounded half to
    /// even (away from zero past the half, in the remainder's direction).
    private static func roundHalfEven(_ q: Int64, remainder: Int64, divisor: Int64) -> Int64 {
        let twice = remainder.magnitude * 2
        if twice > UInt64(divisor) || (twice == UInt64(divisor) && q % 2 != 0) {
            return q + (remainder < 0 ? -1 : 1)
        }
        return q
    }
}
