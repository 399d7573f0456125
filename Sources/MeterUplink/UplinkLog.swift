/// Where the uplink writes its log lines. The agent passes its own logger in; the library never
/// decides how lines look or where they go. No line ever contains a password.
public struct UplinkLog: Sendable {
    public enum Level: Sendable, Hashable { case debug, info, warning, error }

    private let emit: @Sendable (Level, String, [(String, String)]) -> Void

    public init(_ emit: @escaping @Sendable (Level, String, [(String, String)]) -> Void) {
        self.emit = emit
    }

    /// Drops everything (tests that only look at results).
    public static let silent = UplinkLog { _, _, _ in }

    public func debug(_ message: String, _ metadata: [(String, String)] = []) { emit(.debug, message, metadata) }
    public func info(_ message: String, _ metadata: [(String, String)] = []) { emit(.info, message, metadata) }
    public func warning(_ message: String, _ metadata: [(String, String)] = []) { emit(.warning, message, metadata) }
    public func error(_ message: String, _ metadata: [(String, String)] = []) { emit(.error, message, metadata) }
}
