/// Faults a simulated device can be told to show, after libmodbus's unit-test-server: each one
/// changes how the device answers, not what it measures.
public struct DeviceFaults: Sendable, Hashable, CustomStringConvertible {
    /// Stay silent.
    public var noReply = false
    /// Answer this many milliseconds late.
    public var delayMs = 0
    /// Invert both CRC bytes (RTU); over TCP, change the transaction id instead (TCP has no CRC).
    public var badCRC = false
    /// Send random bytes in front of the reply.
    public var garbage = false
    /// Answer every request with this Modbus exception code.
    public var exception: UInt8?
    /// Answer with another unit id (unit + 1).
    public var wrongUnit = false

    public init() {}

    public static let names = ["no_reply", "delay_ms", "bad_crc", "garbage", "exception", "wrong_unit"]

    public var isEmpty: Bool { self == DeviceFaults() }

    public enum SetError: Error, Sendable, Equatable, CustomStringConvertible {
        case unknownFault(String)
        case badValue(fault: String, value: String, expected: String)

        public var description: String {
            switch self {
            case let .unknownFault(name): "unknown fault '\(name)' (expected one of: \(DeviceFaults.names.joined(separator: ", ")))"
            case let .badValue(fault, value, expected): "fault \(fault): '\(value)' is not \(expected)"
            }
        }
    }

    /// Sets one fault from text, as written in a scenario or sent on the control channel.
    public mutating func set(_ name: String, to text: String) throws(SetError) {
        func flag() throws(SetError) -> Bool {
            switch text.lowercased() {
            case "on", "true", "yes", "1": return true
            case "off", "false", "no", "0": return false
            default: throw .badValue(fault: name, value: text, expected: "on/off")
            }
        }
        switch name {
        case "no_reply": noReply = try flag()
        case "bad_crc": badCRC = try flag()
        case "garbage": garbage = try flag()
        case "wrong_unit": wrongUnit = try flag()
        case "delay_ms":
            if ["off", "false", "no"].contains(text.lowercased()) { delayMs = 0; return }
            guard let ms = Int(text), ms >= 0, ms <= 60_000 else {
                throw .badValue(fault: name, value: text, expected: "milliseconds 0–60000")
            }
            delayMs = ms
        case "exception":
            if ["off", "false", "no", "0"].contains(text.lowercased()) { exception = nil; return }
            guard let code = Int(text), (1...11).contains(code) else {
                throw .badValue(fault: name, value: text, expected: "an exception code 1–11")
            }
            exception = UInt8(code)
        default:
            throw .unknownFault(name)
        }
    }

    public var description: String {
        var parts: [String] = []
        if noReply { parts.append("no_reply") }
        if delayMs > 0 { parts.append("delay_ms=\(delayMs)") }
        if badCRC { parts.append("bad_crc") }
        if garbage { parts.append("garbage") }
        if let exception { parts.append("exception=\(exception)") }
        if wrongUnit { parts.append("wrong_unit") }
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }
}
