import MeterCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Meters keep local time: the gateway's zone offset turns UTC into what a meter shows.
public enum LocalClock {
    /// Seconds since 1970-01-01 00:00 of the local calendar time at `utcMs`.
    public static func localSeconds(utcMs: Int64) -> Int64 {
        var t = time_t(utcMs / 1000)
        var parts = tm()
        guard localtime_r(&t, &parts) != nil else { return utcMs / 1000 }
        return utcMs / 1000 + Int64(parts.tm_gmtoff)
    }
}
