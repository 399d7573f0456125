#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Calendar time for reading timestamps: milliseconds since the Unix epoch, UTC.
/// It can jump (NTP, a technician setting the clock), so never use it to measure intervals.
public enum WallClock {
    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Time that only moves forward, for timeouts, back-off and inter-frame gaps:
/// milliseconds since an arbitrary start (boot on Linux).
public enum MonotonicClock {
    public static func nowMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Microseconds, for gaps shorter than a millisecond (RTU inter-frame silence at high baud rates).
    public static func nowUs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}
