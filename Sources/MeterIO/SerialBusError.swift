import MeterCore

/// A failed transaction on a byte-oriented serial line (DL/T 645, CJ/T 188): which bus, which
/// meter (its address as written), which function (control code), what was asked, and why.
public struct SerialBusError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No (complete) matching reply within the timeout.
        case timeout
        /// A reply arrived with a bad checksum.
        case checksumError
        /// A reply arrived but made no sense (wrong length, wrong function).
        case invalidResponse
        /// The meter answered with an error reply; the byte holds its error bits.
        case meterError(UInt8)
        /// The port or socket could not be opened, or broke.
        case connection
        /// The bus's bounded queue was full; the transaction was not attempted.
        case queueFull
        /// The meter is in back-off after repeated timeouts; the transaction was not attempted.
        case backoff
        case closed
        /// The request could never succeed (e.g. a relay command to a broadcast address).
        case invalidRequest
    }

    public var kind: Kind
    public var bus: BusID
    /// The meter address as written (`121078563412`), nil for line-wide failures.
    public var device: String?
    /// The control code of the request.
    public var function: UInt8?
    /// What was asked, e.g. `DI 00010000`.
    public var item: String?
    /// The cause: errno's message, the decoded error bits, our own explanation.
    public var message: String

    public init(_ kind: Kind, bus: BusID, device: String? = nil, function: UInt8? = nil, item: String? = nil, message: String) {
        self.kind = kind
        self.bus = bus
        self.device = device
        self.function = function
        self.item = item
        self.message = message
    }

    /// `bus rs485-2 meter 121078563412 control 0x11 DI 00010000: meter error 0x04 (unauthorised)`
    public var description: String {
        let failure = switch kind {
        case .timeout: "timeout"
        case .checksumError: "checksum error"
        case .invalidResponse: "invalid response"
        case let .meterError(bits): "meter error 0x" + hex2(bits)
        case .connection: "connection failed"
        case .queueFull: "queue full"
        case .backoff: "device backing off"
        case .closed: "bus closed"
        case .invalidRequest: "invalid request"
        }
        return busErrorDescription(bus: bus, context: [device.map { "meter \($0)" }, function.map { "control 0x" + hex2($0) }, item],
                                   failure: failure, message: message)
    }

    /// The reading quality this failure maps to.
    public var quality: Quality {
        switch kind {
        case .timeout: .timeout
        case .checksumError, .invalidResponse: .crcError
        case let .meterError(bits): .meterError(bits)
        case .backoff: .backoff
        case .connection, .queueFull, .closed, .invalidRequest: .busError
        }
    }
}
