/// A span of local time of day, `"00:00-05:00"`; it may run past midnight (`"22:00-06:00"`).
/// Alarm windows (`between:`) and time-of-use tariff periods are both one.
public struct DailyWindow: Sendable, Hashable, CustomStringConvertible {
    /// Minutes after local midnight, 0–1439.
    public var startMinute: Int
    /// Minutes after local midnight, 1–1440 (`24:00`); at or before `startMinute` the window runs
    /// past midnight (an alarm window never has it equal to `startMinute`).
    public var endMinute: Int

    public static let minutesPerDay = 1440
    public static let msPerDay: Int64 = 86_400_000

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// `HH:MM-HH:MM`, 24-hour, end after start or past midnight; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Self.minute(parts[0].trimmed, oneDigitHour: false, isEnd: false),
              let end = Self.minute(parts[1].trimmed, oneDigitHour: false, isEnd: true),
              start != end % Self.minutesPerDay else { return nil }
        self.init(startMinute: start, endMinute: end)
    }

    /// `HH:MM` of the local day as minutes after midnight: 24-hour, two minute digits, `24:00`
    /// (1440) only when `isEnd`; nil for anything else. `oneDigitHour` also takes `8:00` (tariff
    /// periods do, alarm windows do not).
    static func minute(_ text: Substring, oneDigitHour: Bool, isEnd: Bool) -> Int? {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2, ((oneDigitHour ? 1 : 2)...2).contains(fields[0].count), fields[1].count == 2,
              fields.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let hours = Int(fields[0]), let minutes = Int(fields[1]), minutes < 60,
              hours < 24 || (isEnd && hours == 24 && minutes == 0) else { return nil }
        return hours * 60 + minutes
    }

    /// Whether a local time of day falls in the window: start included, end excluded.
    public func contains(minuteOfDay minute: Int) -> Bool {
        startMinute < endMinute ? (minute >= startMinute && minute < endMinute)
            : (minute >= startMinute || minute < endMinute)
    }

    public var description: String { Self.clock(startMinute) + "-" + Self.clock(endMinute) }

    /// `08:00`, `24:00`.
    public static func clock(_ minute: Int) -> String {
        let h = minute / 60, m = minute % 60
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }

    /// Milliseconds since local midnight of a local time (milliseconds since 1970-01-01 00:00 of
    /// the local calendar; before 1970 too).
    public static func msOfDay(localMs: Int64) -> Int64 {
        let r = localMs % msPerDay
        return r < 0 ? r + msPerDay : r
    }

    /// The minute of the local day (0–1439) of a local time in milliseconds.
    public static func minuteOfDay(localMs: Int64) -> Int { Int(msOfDay(localMs: localMs) / 60_000) }
}

private extension Substring {
    var trimmed: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
