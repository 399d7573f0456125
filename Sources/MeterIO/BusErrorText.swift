import MeterCore
import MeterProtocols

/// A failed bus transaction: what went wrong, with the protocol's own context around it.
public protocol BusError: Error, CustomStringConvertible {
    var kind: BusFailure { get }
}

/// What went wrong in a bus transaction, whatever the protocol.
public enum BusFailure: Sendable, Hashable {
    /// No (complete) matching reply within the timeout.
    case timeout
    /// A reply arrived with a bad CRC or checksum.
    case checksumError
    /// A reply arrived but made no sense (wrong length, wrong unit or function).
    case invalidResponse
    /// The Modbus device answered with an exception: it is alive.
    case exception(ModbusExceptionCode)
    /// The DL/T 645 or CJ/T 188 meter answered with an error reply; the byte holds its error bits.
    case meterError(UInt8)
    /// The port or socket could not be opened, or the connection broke.
    case connection
    /// The bus's bounded queue was full; the transaction was not attempted.
    case queueFull
    /// The device is in back-off after repeated timeouts; the transaction was not attempted.
    case backoff
    /// The bus has been closed.
    case closed
    /// The request could never succeed (more than 125 registers, a relay command to a broadcast address).
    case invalidRequest

    /// No reply, or one that cannot be the answer: retried while attempts are left.
    public var isBadReply: Bool {
        switch self {
        case .timeout, .checksumError, .invalidResponse: true
        default: false
        }
    }

    /// For error messages.
    public var text: String {
        switch self {
        case .timeout: "timeout"
        case .checksumError: "checksum error"
        case .invalidResponse: "invalid response"
        case let .exception(code): "Modbus exception \(code.rawValue) (\(code))"
        case let .meterError(bits): "meter error 0x" + Hex.byte(bits)
        case .connection: "connection failed"
        case .queueFull: "queue full"
        case .backoff: "device backing off"
        case .closed: "bus closed"
        case .invalidRequest: "invalid request"
        }
    }

    /// The reading quality this failure maps to.
    public var quality: Quality {
        switch self {
        case .timeout: .timeout
        case .checksumError, .invalidResponse: .crcError
        case let .exception(code): .exception(code.rawValue)
        case let .meterError(bits): .meterError(bits)
        case .backoff: .backoff
        case .connection, .queueFull, .closed, .invalidRequest: .busError
        }
    }
}

/// The description every bus error shares: `bus <id> <context…>: <what happened> (<message>)`,
/// context parts that are nil left out.
func busErrorDescription(bus: BusID, context: [String?], failure: String, message: String) -> String {
    var text = "bus \(bus)"
    for part in context { if let part { text += " " + part } }
    text += ": " + failure
    if !message.isEmpty { text += " (\(message))" }
    return text
}
