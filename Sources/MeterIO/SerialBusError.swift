import MeterCore
import MeterProtocols

/// A failed transaction on a byte-oriented serial line (DL/T 645, CJ/T 188): which bus, which
/// meter (its address as written), which function (control code), what was asked, and why.
public struct SerialBusError: BusError, Sendable, Hashable {
    public var kind: BusFailure
    public var bus: BusID
    /// The meter address as written (`121078563412`), nil for line-wide failures.
    public var device: String?
    /// The control code of the request.
    public var function: UInt8?
    /// What was asked, e.g. `DI 00010000`.
    public var item: String?
    /// The cause: errno's message, the decoded error bits, our own explanation.
    public var message: String

    public init(_ kind: BusFailure, bus: BusID, device: String? = nil, function: UInt8? = nil, item: String? = nil, message: String) {
        self.kind = kind
        self.bus = bus
        self.device = device
        self.function = function
        self.item = item
        self.message = message
    }

    /// `bus rs485-2 meter 121078563412 control 0x11 DI 00010000: meter error 0x04 (unauthorised)`
    public var description: String {
        let failure = kind.text
        return busErrorDescription(bus: bus, context: [device.map { "meter \($0)" }, function.map { "control 0x" + Hex.byte($0) }, item],
                                   failure: failure, message: message)
    }

    /// The reading quality this failure maps to.
    public var quality: Quality { kind.quality }
}
