/// A type an option or argument converts to; `expectation` completes "is not …" in the error.
public protocol ArgumentValue {
    init?(argument: String)
    static var expectation: String { get }
}

extension String: ArgumentValue {
    public init?(argument: String) { self = argument }
    public static var expectation: String { "text" }
}

extension Int: ArgumentValue {
    public init?(argument: String) { self.init(argument) }
    public static var expectation: String { "a whole number" }
}

extension UInt8: ArgumentValue {
    public init?(argument: String) { self.init(argument) }
    public static var expectation: String { "a whole number from 0 to 255" }
}

extension UInt64: ArgumentValue {
    public init?(argument: String) { self.init(argument) }
    public static var expectation: String { "a whole number, 0 or more" }
}

extension Double: ArgumentValue {
    /// Finite only: `nan` or `inf` seconds would reach a conversion to an integer and trap.
    public init?(argument: String) {
        guard let value = Double(argument), value.isFinite else { return nil }
        self = value
    }

    public static var expectation: String { "a number" }
}

/// Enums of words (`open`, `close`) convert by their raw value.
public extension ArgumentValue where Self: RawRepresentable & CaseIterable, RawValue == String {
    init?(argument: String) { self.init(rawValue: argument) }
    static var expectation: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
}
