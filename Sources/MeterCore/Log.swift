/// A small structured logger: one line per call, `<UTC time> <level> <message> key=value …`,
/// handed to a sink (the agent's is stderr, written by a thread of its own). Every module takes
/// the same `Log`; only the executable decides where lines go. The agent logs a handful of lines
/// per minute, so a logging framework would cost more flash than it saves. No line ever contains
/// a password.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    public var minimum: Level
    private let sink: (@Sendable (String) -> Void)?

    /// `sink` receives each line with its newline.
    public init(minimum: Level = .info, sink: @escaping @Sendable (String) -> Void) {
        self.minimum = minimum
        self.sink = sink
    }

    /// Drops everything (tests that only look at results, tools with nothing to say).
    public static let silent = Log(minimum: .error, sink: nil)

    private init(minimum: Level, sink: (@Sendable (String) -> Void)?) {
        self.minimum = minimum
        self.sink = sink
    }

    public func log(_ level: Level, _ message: String, _ metadata: LogMetadata = [:]) {
        guard level >= minimum, let sink else { return }
        var line = UTCTime.rfc3339(WallClock.nowMs()) + " " + level.name + " " + message
        for (key, value) in metadata.pairs { line += " \(key)=\(value)" }
        line += "\n"
        sink(line)
    }

    public func debug(_ m: String, _ md: LogMetadata = [:]) { log(.debug, m, md) }
    public func info(_ m: String, _ md: LogMetadata = [:]) { log(.info, m, md) }
    public func warning(_ m: String, _ md: LogMetadata = [:]) { log(.warning, m, md) }
    public func error(_ m: String, _ md: LogMetadata = [:]) { log(.error, m, md) }
}

/// `key=value` pairs of a log line, in the order given; written as a literal (`["bus.id": id]`)
/// or built up with `append`.
public struct LogMetadata: Sendable, ExpressibleByDictionaryLiteral {
    public private(set) var pairs: [(String, String)]

    public init(dictionaryLiteral elements: (String, String)...) { pairs = elements }

    public mutating func append(_ key: String, _ value: String) { pairs.append((key, value)) }
}
