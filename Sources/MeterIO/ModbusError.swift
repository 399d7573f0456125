import MeterCore
import MeterProtocols

/// A failed Modbus transaction, with everything a technician needs to find the fault:
/// which bus, which device, which function and register, and libmodbus's own message.
public struct ModbusError: BusError, Sendable, Hashable {
    public var kind: BusFailure
    public var bus: BusID
    public var unit: UnitID?
    public var function: UInt8?
    public var address: UInt16?
    /// The C library's message (`modbus_strerror`) or our own explanation.
    public var message: String

    public init(_ kind: BusFailure, bus: BusID, unit: UnitID? = nil, function: UInt8? = nil, address: UInt16? = nil, message: String) {
        self.kind = kind
        self.bus = bus
        self.unit = unit
        self.function = function
        self.address = address
        self.message = message
    }

    /// `bus rs485-1 unit 3 function 0x04 register 72: timeout (Connection timed out)`
    public var description: String {
        // Modbus says CRC for its checksum; technicians know the word.
        let failure = kind == .checksumError ? "CRC error" : kind.text
        return busErrorDescription(bus: bus, context: [unit.map { "unit \($0)" }, function.map { "function 0x" + Hex.byte($0) },
                                                       address.map { "register \($0)" }], failure: failure, message: message)
    }

    /// The reading quality this failure maps to.
    public var quality: Quality { kind.quality }
}
