import MeterCore
import MeterProtocols

/// One serial line or TCP endpoint, with its own thread that runs Modbus transactions one at a time.
///
/// Every device on an RS-485 line goes through its line's bus, so frames never interleave. Callers
/// `await` results while the blocking libmodbus calls run on the bus thread, never on Swift's
/// cooperative pool. The queue is bounded by `config.queueDepth`: a submission to a full queue fails
/// at once with `.queueFull` (and is counted) instead of piling up behind a dead line.
///
/// A caller that is cancelled while waiting still gets its answer (at most `timeoutMs` per attempt
/// later): a request already on the wire cannot be taken back without corrupting the line.
///
/// Checked `Sendable`: it holds only constants and `Guarded` state. The `ModbusClient` (the
/// `modbus_t*`) is created on the bus thread and never leaves it.
public final class ModbusBus: Sendable {
    public let config: BusConfig
    private let queue: BusQueue<Transaction>
    private let status: Guarded<BusStatistics>

    public var id: BusID { config.id }

    /// Starts the bus thread; the port or connection is opened lazily by the first transaction.
    public init(config: BusConfig) {
        self.config = config
        status = Guarded(BusStatistics())
        queue = BusQueue(bus: config.id, capacity: config.queueDepth, status: status)
        let queue = queue, status = status
        let started = DedicatedThread.start {
            BusWorker(config: config, status: status).run(queue)
        }
        if started != 0 {
            queue.refuseAll(because: "cannot start the bus thread (pthread_create error \(started))")
        }
    }

    deinit { close() }

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

    /// Stops the bus: queued transactions fail with `.closed`, the one in progress (if any) finishes
    /// within its timeout, then the thread closes the port and ends. Does not block.
    public func close() { queue.close() }

    public var statistics: BusStatistics {
        var snapshot = status.withLock { $0 }
        snapshot.queued = queue.count
        return snapshot
    }

    private func submit(unit: UnitID, _ operation: Transaction.Operation) async -> Result<[UInt16], ModbusError> {
        if let problem = operation.problem {
            return .failure(ModbusError(.invalidRequest, bus: config.id, unit: unit, function: operation.function,
                                        address: operation.address, message: problem))
        }
        return await queue.submit { Transaction(unit: unit, operation: operation, continuation: $0) }
    }
}

/// One request waiting for the bus thread, and where its answer goes.
struct Transaction: BusJob {
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
    var continuation: CheckedContinuation<Result<[UInt16], ModbusError>, Never>

    func error(_ kind: ModbusError.Kind, bus: BusID, message: String) -> ModbusError {
        ModbusError(kind, bus: bus, unit: unit, function: operation.function, address: operation.address, message: message)
    }

    func refused(_ why: QueueRefusal, bus: BusID, message: String) -> ModbusError {
        error(why == .full ? .queueFull : .closed, bus: bus, message: message)
    }
}
