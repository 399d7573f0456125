#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum UTCTime {
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T06:40:00.123Z`.
    public static func rfc3339(_ ms: Int64) -> String {
        let f = fields(ms)
        return "\(f.year)-\(f.month)-\(f.day)T\(f.hour):\(f.minute):\(f.second).\(f.millisecond)Z"
    }

    /// `20261125T070253Z`: no separators, for file names.
    public static func compact(_ ms: Int64) -> String {
        let f = fields(ms)
        return "\(f.year)\(f.month)\(f.day)T\(f.hour)\(f.minute)\(f.second)Z"
    }

    /// The calendar fields of `ms` in UTC, zero-padded.
    private static func fields(_ ms: Int64) -> (year: String, month: String, day: String, hour: String, minute: String,
                                                 second: String, millisecond: String) {
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return (pad(parts.tm_year + 1900, 4), pad(parts.tm_mon + 1, 2), pad(parts.tm_mday, 2), pad(parts.tm_hour, 2),
                pad(parts.tm_min, 2), pad(parts.tm_sec, 2), pad(Int32(ms % 1000), 3))
    }
}
