import MeterProtocols

/// What one unit of metered energy or volume costs: one flat price, or time-of-use periods of the
/// gateway's local day. Prices are exact decimals in the site's currency (it is money).
public enum Tariff: Sendable, Hashable {
    case flat(ExactDecimal)
    /// Periods that cover the day exactly once (checked when loaded), in the order written.
    case timeOfUse([TariffPeriod])

    public static let minutesPerDay = 1440
    static let msPerDay: Int64 = 86_400_000
    /// Spans longer than this (an agent switched off for more than a year) are not walked period by
    /// period: all of it is priced at the end's period, which keeps the walk bounded.
    static let longestWalkMs: Int64 = 400 * msPerDay

    /// The price at a minute of the local day (0–1439).
    public func price(atMinute minute: Int) -> ExactDecimal {
        switch self {
        case let .flat(price): return price
        case let .timeOfUse(periods):
            return (periods.first { $0.contains(minute) } ?? periods[0]).price
        }
    }

    /// How the local-time span `[startMs, startMs + durationMs)` divides among the prices: one
    /// entry per distinct price with the milliseconds it applies, in order of first appearance.
    /// `startMs` is local time (milliseconds since 1970-01-01 00:00 of the local calendar).
    public func spans(fromLocalMs startMs: Int64, durationMs: Int64) -> [(price: ExactDecimal, ms: Int64)] {
        guard case let .timeOfUse(periods) = self, durationMs > 0, durationMs <= Self.longestWalkMs else {
            return [(price(atMinute: Self.minute(ofLocalMs: startMs + max(0, durationMs))), max(0, durationMs))]
        }
        var result: [(price: ExactDecimal, ms: Int64)] = []
        var t = startMs
        let end = startMs + durationMs
        while t < end {
            let dayStart = t - Self.floorMod(t, Self.msPerDay)
            let minute = Int((t - dayStart) / 60_000)
            let period = periods.first { $0.contains(minute) } ?? periods[0]
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

    public static func minute(ofLocalMs ms: Int64) -> Int { Int(floorMod(ms, msPerDay) / 60_000) }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
        let r = a % b
        return r < 0 ? r + b : r
    }

    /// As `tariff.set` takes it and events show it: `{"flat":0.59}` or
    /// `{"periods":[{"from":"08:00","to":"22:00","price":0.79},…]}`.
    public var json: String {
        switch self {
        case let .flat(price):
            return "{\"flat\":\(price)}"
        case let .timeOfUse(periods):
            let items = periods.map { "{\"from\":\"\(TariffPeriod.clock($0.fromMinute))\",\"to\":\"\(TariffPeriod.clock($0.toMinute))\",\"price\":\($0.price)}" }
            return "{\"periods\":[" + items.joined(separator: ",") + "]}"
        }
    }
}

/// One time-of-use period: `[from, to)` in minutes of the local day; `to` at or before `from`
/// wraps past midnight (`22:00`–`08:00`), and `to` may be 1440 (`24:00`).
public struct TariffPeriod: Sendable, Hashable {
    public var fromMinute: Int
    public var toMinute: Int
    public var price: ExactDecimal

    public init(fromMinute: Int, toMinute: Int, price: ExactDecimal) {
        self.fromMinute = fromMinute
        self.toMinute = toMinute
        self.price = price
    }

    public var wraps: Bool { toMinute <= fromMinute }

    public func contains(_ minute: Int) -> Bool {
        wraps ? (minute >= fromMinute || minute < toMinute) : (minute >= fromMinute && minute < toMinute)
    }

    /// Where this period ends, in minutes from the start of the day of `minute` (up to 2 × 1440
    /// for a period that wraps past the next midnight).
    func endMinute(after minute: Int) -> Int {
        guard wraps else { return toMinute }
        return minute >= fromMinute ? toMinute + Tariff.minutesPerDay : toMinute
    }

    /// `08:00`, `24:00`.
    public static func clock(_ minute: Int) -> String {
        let h = minute / 60, m = minute % 60
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }
}
