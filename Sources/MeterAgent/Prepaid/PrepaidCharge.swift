import MeterCore
import MeterDrivers
import MeterProtocols

/// The money side of local cost control: what a meter's advance costs under a tariff. Exact
/// decimals throughout; the only rounding is in how an advance that spans a time-of-use boundary is
/// shared between the periods (to a thousandth of the meter's resolution, and the last share takes
/// the remainder, so the shares always add up to the advance exactly).
public enum PrepaidCharge {
    /// The cost of `advance` (energy or volume) metered between `fromMs` and `toMs` (UTC ms).
    /// Each part is priced by the period of the gateway's local day it fell in, assuming the
    /// consumption was steady in between (at one poll per interval that is a fraction of a minute;
    /// after a gap — the agent stopped, the bus down — it is the fairest guess there is). A clock
    /// that went backwards prices it all at `toMs`. nil when the numbers do not fit in 64 bits.
    public static func cost(of advance: ExactDecimal, fromMs: Int64, toMs: Int64, tariff: Tariff,
                            localMs: (Int64) -> Int64) -> ExactDecimal? {
        // One price whenever it was consumed: no local time, no spans.
        if case let .flat(price) = tariff { return advance.multiplied(by: price)?.normalized }
        let duration = max(0, toMs - fromMs)
        let spans = tariff.spans(fromLocalMs: localMs(duration > 0 ? fromMs : toMs), durationMs: duration)
        guard spans.count > 1 else { return advance.multiplied(by: spans[0].price)?.normalized }
        let total = spans.reduce(Int64(0)) { $0 + $1.ms }
        let exponent = min(advance.exponent, 0) - 3
        var remaining = advance
        var cost = ExactDecimal.zero
        for (index, span) in spans.enumerated() {
            let part = index == spans.count - 1 ? remaining : advance.share(span.ms, of: total, exponent: exponent)
            guard let part, let left = remaining.subtracting(part), let partCost = part.multiplied(by: span.price),
                  let sum = cost.adding(partCost) else { return nil }
            remaining = left
            cost = sum.normalized
        }
        return cost
    }

    /// A reading's value as an exact decimal: decimals as the meter sent them, IEEE-754 registers
    /// rounded to 3 decimals (Wh or litres: finer than a float32 counter resolves at any real
    /// reading, and the same rounding of both readings keeps the advances adding up).
    public static func decimal(_ value: MeterValue) -> ExactDecimal? {
        switch value {
        case let .decimal(d): d
        case let .real(r): ExactDecimal(rounding: r, fractionDigits: 3)
        case .bool: nil
        }
    }

    /// The gateway's local time of a UTC instant, in milliseconds (what time-of-use periods follow).
    public static func localMs(_ utcMs: Int64) -> Int64 {
        LocalClock.localSeconds(utcMs: utcMs) * 1000 + (utcMs % 1000 + 1000) % 1000
    }
}
