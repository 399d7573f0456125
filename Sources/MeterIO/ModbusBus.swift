import MeterCore
import MeterProtocols

/// A Modbus RTU line (`Bus` with libmodbus on a thread of its own) or a Modbus TCP endpoint (on
/// the one thread all TCP endpoints share, `ModbusTCPLoop`).
public typealias ModbusBus = Bus<ModbusBusWorker>

extension Bus where Worker == ModbusBusWorker {
    /// Starts the bus thread, or attaches to the TCP loop; the port or connection is opened lazily
    /// by the first transaction.
    public convenience init(config: BusConfig) {
        switch config.transport {
        case .serial:
            self.init(config: config) { ModbusBusWorker(config: config, status: $0) }
        case .tcp:
            self.init(config: config, attach: { queue, status, finished in
                ModbusTCPLoop.shared.attach(config: config, queue: queue, status: status, finished: finished)
            })
        }
    }

    // MARK: - Transactions

    /// Reads registers, or bits as 0/1 words for coils and discrete inputs.
    public func readRegisters(unit: UnitID, table: RegisterTable, address: UInt16, count: Int) async throws(ModbusError) -> [UInt16] {
        try await submit(unit: unit, .read(table: table, address: address, count: count)).get()
    }

    /// Writes holding registers (function 0x10).
    public func writeRegisters(unit: UnitID, address: UInt16, values: [UInt16]) async throws(ModbusError) {
        _ = try await submit(unit: unit, .writeRegisters(address: address, values: values)).get()
    }

    /// Writes one holding register (function 0x06), for devices that refuse 0x10.
    public func writeRegister(unit: UnitID, address: UInt16, value: UInt16) async throws(ModbusError) {
        _ = try await submit(unit: unit, .writeRegister(address: address, value: value)).get()
    }

    /// Writes one coil (function 0x05).
    public func writeCoil(unit: UnitID, address: UInt16, value: Bool) async throws(ModbusError) {
        _ = try await submit(unit: unit, .writeCoil(address: address, value: value)).get()
    }

    private func submit(unit: UnitID, _ operation: ModbusTransaction.Operation) async -> Result<[UInt16], ModbusError> {
        if let problem = operation.problem {
            return .failure(ModbusError(.invalidRequest, bus: config.id, unit: unit, function: operation.function,
                                        address: operation.address, message: problem))
        }
        return await submit { ModbusTransaction(unit: unit, operation: operation, continuation: $0, urgent: $1) }
    }
}

/// One request waiting for the bus thread, and where its answer goes.
public struct ModbusTransaction: BusJob {
    enum Operation: Sendable {
        case read(table: RegisterTable, address: UInt16, count: Int)
        case writeRegisters(address: UInt16, values: [UInt16])
        case writeRegister(address: UInt16, value: UInt16)
        case writeCoil(address: UInt16, value: Bool)

        var function: UInt8 {
            switch self {
            case let .read(table, _, _): table.readFunction
            case .writeRegisters: 0x10
            case .writeRegister: 0x06
            case .writeCoil: 0x05
            }
        }

        /// Why the request could never succeed (too many items, past register 65535), checked before
        /// it takes a place in the queue.
        var problem: String? {
            let (count, limit): (Int, Int) = switch self {
            case let .read(table, _, count): (count, table.isBitTable ? ModbusLimits.maxReadBits : ModbusLimits.maxReadRegisters)
            case let .writeRegisters(_, values): (values.count, ModbusLimits.maxWriteRegisters)
            case .writeRegister, .writeCoil: (1, 1)
            }
            if !(1...limit).contains(count) { return "\(count) items requested, a request carries 1 to \(limit)" }
            if Int(address) + count > ModbusLimits.addressSpace { return "register \(address) + \(count) runs past 65535" }
            return nil
        }

        var address: UInt16 {
            switch self {
            case let .read(_, address, _), let .writeRegisters(address, _), let .writeRegister(address, _), let .writeCoil(address, _): address
            }
        }
    }

    var unit: UnitID
    var operation: Operation
    public var continuation: CheckedContinuation<Result<[UInt16], ModbusError>, Never>
    public var urgent: Bool

    public func error(_ kind: BusFailure, bus: BusID, message: String) -> ModbusError {
        ModbusError(kind, bus: bus, unit: unit, function: operation.function, address: operation.address, message: message)
    }
}
