/// Why bytes are not a valid DL/T 645 frame or a value cannot be encoded or decoded.
public enum DLT645Error: Error, Sendable, Hashable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case missingStart
    case badChecksum(expected: UInt8, found: UInt8)
    case missingEnd(found: UInt8)
    case dataTooLong(Int)
    case badAddress(String)
    case badBCD(UInt8)
    case valueOutOfRange(String)
    case badDate(String)
    /// A reply that does not answer the request (wrong address, control or data identifier).
    case unexpectedReply(String)
    /// The meter sent an error reply: control byte and the error bits.
    case errorReply(control: UInt8, error: DLT645ErrorBits)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "frame truncated: need \(needed) bytes, have \(available)"
        case .missingStart: "no frame start 68 … 68"
        case let .badChecksum(expected, found): "checksum \(Hex.byte(found)) but frame sums to \(Hex.byte(expected))"
        case let .missingEnd(found): "frame ends with \(Hex.byte(found)) instead of 16"
        case let .dataTooLong(n): "data of \(n) bytes does not fit a frame (at most 255)"
        case let .badAddress(text): "bad meter address '\(text)'"
        case let .badBCD(byte): "byte \(Hex.byte(byte)) is not BCD"
        case let .valueOutOfRange(text): "value out of range: \(text)"
        case let .badDate(text): "bad date/time: \(text)"
        case let .unexpectedReply(text): "unexpected reply: \(text)"
        case let .errorReply(control, error): "error reply \(Hex.byte(control)): \(error)"
        }
    }
}

/// The error byte of a DL/T 645-2007 error reply (control with bit 6 set).
public struct DLT645ErrorBits: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let other = DLT645ErrorBits(rawValue: 0x01)
    public static let noData = DLT645ErrorBits(rawValue: 0x02)
    /// Wrong password or not authorised (also what most meters send for any refused 0x1C).
    public static let unauthorised = DLT645ErrorBits(rawValue: 0x04)
    public static let baudRateFixed = DLT645ErrorBits(rawValue: 0x08)
    public static let tooManyYearZones = DLT645ErrorBits(rawValue: 0x10)
    public static let tooManyDayPeriods = DLT645ErrorBits(rawValue: 0x20)
    public static let tooManyTariffs = DLT645ErrorBits(rawValue: 0x40)

    static let names: [(DLT645ErrorBits, String)] = [
        (.other, "other error"), (.noData, "no such data"), (.unauthorised, "unauthorised (wrong password or level)"),
        (.baudRateFixed, "baud rate cannot change"), (.tooManyYearZones, "too many year zones"),
        (.tooManyDayPeriods, "too many day periods"), (.tooManyTariffs, "too many tariffs"),
    ]

    /// `unauthorised (wrong password or level)`, several joined by `, `.
    public var description: String {
        let parts = Self.names.filter { contains($0.0) }.map(\.1)
        if parts.isEmpty { return rawValue == 0 ? "no error bits" : "unknown error bits \(Hex.byte(rawValue))" }
        return parts.joined(separator: ", ")
    }
}
