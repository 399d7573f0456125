#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore

/// A small structured logger on stderr. The agent logs a handful of lines per minute, so a
/// logging framework would cost more flash than it saves.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    public var minimum: Level

    public init(minimum: Level = .info) { self.minimum = minimum }

    public func log(_ level: Level, _ message: String, _ metadata: KeyValuePairs<String, String> = [:]) {
        guard level >= minimum else { return }
        var line = Log.timestamp(WallClock.nowMs()) + " " + level.name + " " + message
        for (k, v) in metadata { line += " \(k)=\(v)" }
        line += "\n"
        writeAll(line, to: STDERR_FILENO)
    }

    public func debug(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.debug, m, md) }
    public func info(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.info, m, md) }
    public func warning(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.warning, m, md) }
    public func error(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.error, m, md) }

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T06:40:00.123Z`.
    public static func timestamp(_ ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }
}
