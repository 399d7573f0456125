/// A meter's secret for write and relay commands: password and operator code, as written in the
/// site config. Never printed: `description` hides the digits, so it cannot leak into a log line.
public struct MeterCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// 6 hex/BCD digits (P2 P1 P0 as written: `"123456"` goes on the wire as 56 34 12).
    public var password: String
    /// 8 digits (C3..C0 as written).
    public var operatorCode: String

    public init(password: String = "000000", operatorCode: String = "00000000") {
        self.password = password
        self.operatorCode = operatorCode
    }

    public var description: String { "credentials(password ******, operator ********)" }
    public var debugDescription: String { description }
}
