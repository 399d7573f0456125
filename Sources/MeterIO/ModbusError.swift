import MeterCore
import MeterProtocols

/// A failed Modbus transaction, with everything a technician needs to find the fault:
/// which bus, which device, which function and register, and libmodbus's own message.
public struct ModbusError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No (complete) reply within the timeout.
        case timeout
        /// A reply arrived with a bad CRC (RTU) or was otherwise malformed.
        case crcError
        case invalidResponse
        /// The device answered with a Modbus exception.
        case exception(ModbusExceptionCode)
        /// The port or socket could not be opened, or the connection broke.
        case connection
        /// The bus's bounded queue was full; the transaction was not attempted.
        case queueFull
        /// The device is in back-off after repeated failures; the transaction was not attempted.
        case backoff
        /// The bus has been closed.
        case closed
        /// The request itself is invalid (e.g. more than 125 registers).
        case invalidRequest
    }

    public var kind: Kind
    public var bus: BusID
    public var unit: UnitID?
    public var function: UInt8?
    public var address: UInt16?
    /// The C library's message (`modbus_strerror`) or our own explanation.
    public var message: String

    public init(_ kind: Kind, bus: BusID, unit: UnitID? = nil, function: UInt8? = nil, address: UInt16? = nil, message: String) {
        self.kind = kind
        self.bus = bus
        self.unit = unit
        self.function = function
        self.address = address
        self.message = message
    }

    /// `bus rs485-1 unit 3 function 0x04 register 72: timeout (Connection timed out)`
    public var description: String {
        let failure = switch kind {
        case .timeout: "timeout"
        case .crcError: "CRC error"
        case .invalidResponse: "invalid response"
        case let .exception(code): "Modbus exception \(code.rawValue) (\(code))"
        case .connection: "connection failed"
        case .queueFull: "queue full"
        case .backoff: "device backing off"
        case .closed: "bus closed"
        case .invalidRequest: "invalid request"
        }
        return busErrorDescription(bus: bus, context: [unit.map { "unit \($0)" }, function.map { "function 0x" + hex2($0) },
                                                       address.map { "register \($0)" }], failure: failure, message: message)
    }

    /// The reading quality this failure maps to.
    public var quality: Quality {
        switch kind {
        case .timeout: .timeout
        case .crcError, .invalidResponse: .crcError
        case let .exception(code): .exception(code.rawValue)
        case .backoff: .backoff
        case .connection, .queueFull, .closed, .invalidRequest: .busError
        }
    }
}
