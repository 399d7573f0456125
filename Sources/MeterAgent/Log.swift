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
        var line = UTCTime.rfc3339(WallClock.nowMs()) + " " + level.name + " " + message
        for (k, v) in metadata { line += " \(k)=\(v)" }
        line += "\n"
        ConsoleOutput.stderr.post(line)
    }

    public func debug(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.debug, m, md) }
    public func info(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.info, m, md) }
    public func warning(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.warning, m, md) }
    public func error(_ m: String, _ md: KeyValuePairs<String, String> = [:]) { log(.error, m, md) }
}
