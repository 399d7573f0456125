import CModbus
import MeterCore
import MeterProtocols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one owner of one libmodbus client context (`modbus_t*`) for one serial line.
///
/// Blocking and not thread-safe: it is meant to live on the thread of one `ModbusBus` and be used
/// from nowhere else. Every failure is a `ModbusError` carrying the bus, unit, function, register and
/// libmodbus's own message; errno is read right after the failing call, before anything can reset it.
public final class ModbusClient {
    public let config: BusConfig
    private var context: OpaquePointer?
    /// A failed transaction may leave late or partial reply bytes behind: drop them before the next request.
    private var needsFlush = false
    /// The device path actually opened, after resolving a `usb:` identity.
    public private(set) var endpoint: String?
    /// Problems that did not stop the bus from opening (e.g. a port that cannot switch to RS-485 mode).
    public private(set) var notes: [String] = []

    public init(config: BusConfig) {
        self.config = config
    }

    deinit { close() }

    public var isConnected: Bool { context != nil }

    /// Opens the port or connection, unless it is already open.
    public func connect() throws(ModbusError) {
        if context != nil { return }
        let (ctx, endpoint) = try makeContext()
        let timeout = max(1, config.timeoutMs)
        modbus_set_response_timeout(ctx, UInt32(timeout / 1000), UInt32(timeout % 1000) * 1000)
        if modbus_connect(ctx) == -1 {
            let code = errno
            modbus_free(ctx)
            throw ModbusError(.connection, bus: config.id, message: "cannot open \(endpoint): \(ModbusErrno.message(code))")
        }
        if case let .serial(_, _, rs485) = config.transport, rs485 {
            if modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) == -1 {
                let code = errno
                // Many USB adapters switch direction in hardware and refuse TIOCSRS485: carry on.
                note("\(endpoint) does not support RS-485 mode (\(ModbusErrno.message(code))); continuing in RS-232 mode, direction control must be automatic")
            }
        }
        // Bytes left in a reused pty or socket would be read as the first reply and cost a timeout.
        modbus_flush(ctx)
        context = ctx
        self.endpoint = endpoint
        needsFlush = false
    }

    public func close() {
        guard let ctx = context else { return }
        modbus_close(ctx)
        modbus_free(ctx)
        context = nil
    }

    public func reconnect() throws(ModbusError) {
        close()
        try connect()
    }

    // MARK: - Transactions

    /// Reads `count` registers, or `count` bits returned as 0/1 words for coils and discrete inputs.
    public func readRegisters(unit: UnitID, table: RegisterTable, address: UInt16, count: Int) throws(ModbusError) -> [UInt16] {
        let function = table.readFunction
        let limit = table.isBitTable ? ModbusLimits.maxReadBits : ModbusLimits.maxReadRegisters
        try check(count: count, limit: limit, unit: unit, function: function, address: address)
        let ctx = try prepare(unit: unit, function: function, address: address)
        let addr = Int32(address), n = Int32(count)
        if table.isBitTable {
            var bits = [UInt8](repeating: 0, count: count)
            let (result, code) = bits.withUnsafeMutableBufferPointer { buffer in
                let r = table == .coil ? modbus_read_bits(ctx, addr, n, buffer.baseAddress)
                                       : modbus_read_input_bits(ctx, addr, n, buffer.baseAddress)
                return (r, errno)
            }
            try finish(result, code, expected: count, unit: unit, function: function, address: address)
            return bits.map { $0 == 0 ? 0 : 1 }
        } else {
            var words = [UInt16](repeating: 0, count: count)
            let (result, code) = words.withUnsafeMutableBufferPointer { buffer in
                let r = table == .holding ? modbus_read_registers(ctx, addr, n, buffer.baseAddress)
                                          : modbus_read_input_registers(ctx, addr, n, buffer.baseAddress)
                return (r, errno)
            }
            try finish(result, code, expected: count, unit: unit, function: function, address: address)
            return words
        }
    }

    /// Writes holding registers with function 0x10 (write multiple), which meters accept even for
    /// one register more often than 0x06.
    public func writeRegisters(unit: UnitID, address: UInt16, values: [UInt16]) throws(ModbusError) {
        let function: UInt8 = 0x10
        try check(count: values.count, limit: ModbusLimits.maxWriteRegisters, unit: unit, function: function, address: address)
        let ctx = try prepare(unit: unit, function: function, address: address)
        let (result, code) = values.withUnsafeBufferPointer { buffer in
            (modbus_write_registers(ctx, Int32(address), Int32(buffer.count), buffer.baseAddress), errno)
        }
        try finish(result, code, expected: values.count, unit: unit, function: function, address: address)
    }

    /// Writes one holding register with function 0x06.
    public func writeRegister(unit: UnitID, address: UInt16, value: UInt16) throws(ModbusError) {
        let function: UInt8 = 0x06
        let ctx = try prepare(unit: unit, function: function, address: address)
        let result = modbus_write_register(ctx, Int32(address), value)
        let code = errno
        try finish(result, code, expected: 1, unit: unit, function: function, address: address)
    }

    /// Writes one coil with function 0x05 (0xFF00 on, 0x0000 off).
    public func writeCoil(unit: UnitID, address: UInt16, value: Bool) throws(ModbusError) {
        let function: UInt8 = 0x05
        let ctx = try prepare(unit: unit, function: function, address: address)
        let result = modbus_write_bit(ctx, Int32(address), value ? 1 : 0)
        let code = errno
        try finish(result, code, expected: 1, unit: unit, function: function, address: address)
    }

    // MARK: - Helpers

    private func check(count: Int, limit: Int, unit: UnitID, function: UInt8, address: UInt16) throws(ModbusError) {
        guard (1...limit).contains(count) else {
            throw ModbusError(.invalidRequest, bus: config.id, unit: unit, function: function, address: address,
                              message: "\(count) items requested, a request carries 1 to \(limit)")
        }
        guard Int(address) + count <= ModbusLimits.addressSpace else {
            throw ModbusError(.invalidRequest, bus: config.id, unit: unit, function: function, address: address,
                              message: "register \(address) + \(count) runs past 65535")
        }
    }

    /// Connects if needed, drops stale bytes and addresses the unit.
    private func prepare(unit: UnitID, function: UInt8, address: UInt16) throws(ModbusError) -> OpaquePointer {
        do {
            try connect()
        } catch {
            var located = error
            located.unit = unit
            located.function = function
            located.address = address
            throw located
        }
        guard let ctx = context else {
            throw ModbusError(.connection, bus: config.id, unit: unit, function: function, address: address, message: "not connected")
        }
        if needsFlush {
            modbus_flush(ctx)
            needsFlush = false
        }
        if modbus_set_slave(ctx, Int32(unit.rawValue)) == -1 {
            let code = errno
            throw ModbusError(.invalidRequest, bus: config.id, unit: unit, function: function, address: address,
                              message: "unit \(unit) is not valid on this bus (\(ModbusErrno.message(code)))")
        }
        return ctx
    }

    /// Turns a libmodbus return value and the errno captured right after it into success or a `ModbusError`.
    private func finish(_ result: Int32, _ code: Int32, expected: Int, unit: UnitID, function: UInt8, address: UInt16) throws(ModbusError) {
        if result == Int32(expected) { return }
        needsFlush = true
        if result >= 0 {
            throw ModbusError(.invalidResponse, bus: config.id, unit: unit, function: function, address: address,
                              message: "reply carried \(result) items, expected \(expected)")
        }
        let classification = ModbusErrno.classify(code)
        if classification.needsReconnect { close() }
        throw ModbusError(classification.kind, bus: config.id, unit: unit, function: function, address: address,
                          message: ModbusErrno.message(code))
    }

    private func note(_ text: String) {
        // Bounded: a flapping adapter reconnecting for days must not grow this without limit.
        if notes.count >= 8 { notes.removeFirst() }
        notes.append(text)
    }

    /// A fresh context for the configured transport; a `usb:` port is resolved to its current path now,
    /// so a renumbered adapter is found again on every reconnect.
    private func makeContext() throws(ModbusError) -> (OpaquePointer, String) {
        switch config.transport {
        case let .serial(port, settings, _):
            let path: String
            do {
                path = try SerialPortScanner.resolve(port)
            } catch {
                throw ModbusError(.connection, bus: config.id, message: error.description)
            }
            let parity = CChar(bitPattern: settings.parity.letter.asciiValue ?? UInt8(ascii: "N"))
            guard let ctx = modbus_new_rtu(path, Int32(settings.baud), parity, Int32(settings.dataBits), Int32(settings.stopBits)) else {
                let code = errno
                throw ModbusError(.connection, bus: config.id,
                                  message: "cannot set up \(path) at \(settings.summary): \(ModbusErrno.message(code))")
            }
            return (ctx, path)
        case .tcp:
            // Modbus TCP endpoints run on `ModbusTCPLoop`, never on a libmodbus client.
            preconditionFailure("ModbusClient for the TCP bus \(config.id)")
        }
    }
}
