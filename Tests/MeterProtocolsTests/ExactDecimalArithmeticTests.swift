import MeterProtocols
import Testing

/// The money arithmetic of local cost control: exact, overflow reported as nil, rounding only
/// where asked (half to even).
@Suite struct ExactDecimalArithmeticTests {
    func d(_ text: String) -> ExactDecimal { ExactDecimal(text)! }

    @Test func compareOrdersByValueWhateverTheSpelling() {
        #expect(d("1.50").compare(d("1.5")) == 0)
        #expect(d("1.50").hasSameValue(as: d("1.5")))
        #expect(d("1.50") != d("1.5"), "== keeps comparing digits as written")
        #expect(d("-0.01").compare(d("0")) == -1)
        #expect(d("0").compare(d("-0.000")) == 0)
        #expect(d("9.99").compare(d("10")) == -1)
        #expect(d("-10").compare(d("-9.99")) == -1)
        #expect(d("1e18").compare(d("999999999999999999")) == 1)
        // Values whose alignment would overflow 64 bits still compare.
        #expect(ExactDecimal(significand: .max, exponent: 0).compare(ExactDecimal(significand: 95, exponent: 17)) == -1)
        #expect(ExactDecimal(significand: 1, exponent: 60).compare(ExactDecimal(significand: .max, exponent: -60)) == 1)
    }

    @Test func subtractingIsExact() {
        #expect(d("50").subtracting(d("0.7375"))?.description == "49.2625")
        #expect(d("0.1").subtracting(d("0.3"))?.description == "-0.2")
        #expect(ExactDecimal(significand: .min, exponent: 0).negated == nil)
        #expect(d("1").subtracting(ExactDecimal(significand: .min, exponent: 0)) == nil)
    }

    @Test func normalizedDropsTrailingZeros() {
        #expect(d("1.500").normalized == ExactDecimal(significand: 15, exponent: -1))
        #expect(d("0.00").normalized == .zero)
        #expect(d("1200").normalized == ExactDecimal(significand: 12, exponent: 2))
        #expect(d("1200").normalized.description == "1200")
        #expect(d("12.340").normalized.fractionDigits == 2)
    }

    @Test func roundingIsHalfToEven() {
        #expect(d("2.345").rounded(toExponent: -2)?.description == "2.34")
        #expect(d("2.355").rounded(toExponent: -2)?.description == "2.36")
        #expect(d("2.3451").rounded(toExponent: -2)?.description == "2.35")
        #expect(d("-2.345").rounded(toExponent: -2)?.description == "-2.34")
        #expect(d("-2.3451").rounded(toExponent: -2)?.description == "-2.35")
        #expect(d("2.5").rounded(toExponent: -3)?.description == "2.500")
        #expect(ExactDecimal(significand: .max, exponent: 0).rounded(toExponent: -1) == nil)
        #expect(ExactDecimal(significand: 5, exponent: -30).rounded(toExponent: 0) == ExactDecimal(significand: 0, exponent: 0))
    }

    @Test func floorIntegerRoundsDown() {
        #expect(d("41.99").floorInteger == 41)
        #expect(d("-0.01").floorInteger == -1)
        #expect(d("-2").floorInteger == -2)
        #expect(d("0").floorInteger == 0)
        #expect(d("3e2").floorInteger == 300)
    }

    @Test func sharesAreRoundedAndBounded() {
        // 1.000 kWh, 1/3 of it to a millionth.
        #expect(d("1.000").share(1, of: 3, exponent: -6)?.description == "0.333333")
        #expect(d("1.000").share(2, of: 3, exponent: -6)?.description == "0.666667")
        #expect(d("0.5").share(1, of: 2, exponent: -1)?.description == "0.2", "a tie goes to the even digit")
        #expect(d("0.7").share(1, of: 2, exponent: -1)?.description == "0.4")
        #expect(d("-0.7").share(1, of: 2, exponent: -1)?.description == "-0.4")
        #expect(d("123456.789").share(3_599_999, of: 3_600_000, exponent: -6)?.description == "123456.754706")
        #expect(d("1").share(2, of: 1, exponent: 0) == nil)
        #expect(d("1").share(1, of: 0, exponent: 0) == nil)
        // The product is 128 bits wide: no overflow for large counts of milliseconds.
        #expect(d("999999.999").share(86_400_000 * 300, of: 86_400_000 * 400, exponent: -6)?.description == "749999.999250")
    }

    @Test func floatsBecomeDecimalsOfTheAskedDigits() {
        #expect(ExactDecimal(rounding: 1523.45678, fractionDigits: 3)?.description == "1523.457")
        #expect(ExactDecimal(rounding: Double(Float(1523.457)), fractionDigits: 3)?.description == "1523.457")
        #expect(ExactDecimal(rounding: -2.5, fractionDigits: 0)?.description == "-2")
        #expect(ExactDecimal(rounding: .nan, fractionDigits: 3) == nil)
        #expect(ExactDecimal(rounding: 1e300, fractionDigits: 3) == nil)
    }
}
