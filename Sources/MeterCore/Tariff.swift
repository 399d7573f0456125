import MeterProtocols

/// What one unit of metered energy or volume costs: one flat price, or time-of-use periods of the
/// gateway's local day. Prices are exact decimals in the site's currency (it is money).
public enum Tariff: Sendable, Hashable {
    case flat(ExactDecimal)
    /// Periods that cover the day exactly once (checked when loaded), in the order written.
    case timeOfUse([TariffPeriod])

    /// Spans longer than this (an agent switched off for more than a year) are not walked period by
    /// period: all of it is priced at the end's period, which keeps the walk bounded.
    static let longestWalkMs: Int64 = 400 * DailyWindow.msPerDay

    /// The price at a minute of the local day (0–1439).
    public func price(atMinute minute: Int) -> ExactDecimal {
        switch self {
        case let .flat(price): return price
        case let .timeOfUse(periods): return Self.period(at: minute, in: periods).price
        }
    }

    /// The period that holds `minute` (the first one if, against the loader's check, none does).
    private static func period(at minute: Int, in periods: [TariffPeriod]) -> TariffPeriod {
        periods.first { $0.window.contains(minuteOfDay: minute) } ?? periods[0]
    }

    /// How the local-time span `[startMs, startMs + durationMs)` divides among the prices: one
    /// entry per distinct price with the milliseconds it applies, in order of first appearance.
    /// `startMs` is local time (milliseconds since 1970-01-01 00:00 of the local calendar).
    public func spans(fromLocalMs startMs: Int64, durationMs: Int64) -> [(price: ExactDecimal, ms: Int64)] {
        guard case let .timeOfUse(periods) = self, durationMs > 0, durationMs <= Self.longestWalkMs else {
            return [(price(atMinute: DailyWindow.minuteOfDay(localMs: startMs + max(0, durationMs))), max(0, durationMs))]
        }
        var result: [(price: ExactDecimal, ms: Int64)] = []
        var t = startMs
        let end = startMs + durationMs
        while t < end {
            let ofDay = DailyWindow.msOfDay(localMs: t)
            let dayStart = t - ofDay
            let minute = Int(ofDay / 60_000)
            let period = Self.period(at: minute, in: periods)
            let boundary = dayStart + Int64(period.endMinute(after: minute)) * 60_000
            let next = min(end, boundary)
            if let index = result.firstIndex(where: { $0.price == period.price }) {
                result[index].ms += next - t
            } else {
                result.append((period.price, next - t))
            }
            t = next
        }
        return result
    }

    /// As `tariff.set` takes it and events show it: `{"flat":0.59}` or
    /// `{"periods":[{"from":"08:00","to":"22:00","price":0.79},…]}`.
    public var json: String {
        var w = JSONWriter(capacity: 64)
        switch self {
        case let .flat(price):
            w.raw("{\"flat\":"); w.raw(price.description)
        case let .timeOfUse(periods):
            w.raw("{\"periods\":[")
            for (index, period) in periods.enumerated() {
                if index > 0 { w.raw(",") }
                w.raw("{\"from\":"); w.string(DailyWindow.clock(period.fromMinute))
                w.raw(",\"to\":"); w.string(DailyWindow.clock(period.toMinute))
                w.raw(",\"price\":"); w.raw(period.price.description)
                w.raw("}")
            }
            w.raw("]")
        }
        w.raw("}")
        return w.text
    }
}

/// One time-of-use period: `[from, to)` in minutes of the local day; `to` at or before `from`
/// wraps past midnight (`22:00`–`08:00`), and `to` may be 1440 (`24:00`).
public struct TariffPeriod: Sendable, Hashable {
    public var window: DailyWindow
    public var price: ExactDecimal

    public init(fromMinute: Int, toMinute: Int, price: ExactDecimal) {
        window = DailyWindow(startMinute: fromMinute, endMinute: toMinute)
        self.price = price
    }

    public var fromMinute: Int { window.startMinute }
    public var toMinute: Int { window.endMinute }

    /// Where this period ends, in minutes from the start of the day of `minute` (up to 2 × 1440
    /// for a period that wraps past the next midnight).
    func endMinute(after minute: Int) -> Int {
        guard toMinute <= fromMinute else { return toMinute }
        return minute >= fromMinute ? toMinute + DailyWindow.minutesPerDay : toMinute
    }
}
