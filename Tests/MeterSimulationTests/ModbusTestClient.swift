import CModbus
import Foundation

/// A plain libmodbus client for the tests: the simulator is checked by libmodbus's own client
/// code, not by the agent's, so a bug shared by our client and server cannot hide.
final class ModbusTestClient {
    let context: OpaquePointer

    init(rtu path: String, baud: Int32 = 9600) throws {
        guard let ctx = modbus_new_rtu(path, baud, CChar(bitPattern: UInt8(ascii: "N")), 8, 1) else { throw ClientError(errno) }
        context = ctx
        guard modbus_connect(ctx) == 0 else { throw ClientError(errno) } // deinit frees ctx: every property is set
        modbus_set_response_timeout(ctx, 0, 400_000)
    }

    init(tcpPort port: Int) throws {
        guard let ctx = modbus_new_tcp("127.0.0.1", Int32(port)) else { throw ClientError(errno) }
        context = ctx
        guard modbus_connect(ctx) == 0 else { throw ClientError(errno) } // deinit frees ctx: every property is set
        modbus_set_response_timeout(ctx, 0, 400_000)
    }

    deinit {
        modbus_close(context)
        modbus_free(context)
    }

    struct ClientError: Error, Equatable, CustomStringConvertible {
        var code: Int32
        init(_ code: Int32) { self.code = code }
        var description: String { String(cString: modbus_strerror(code)) + " (\(code))" }
        static func exception(_ n: Int32) -> ClientError { ClientError(cmodbus_exception_base() + n) }
        static let timeout = ClientError(ETIMEDOUT)
    }

    func readInput(unit: Int32, address: Int32, count: Int32) -> Result<[UInt16], ClientError> {
        modbus_set_slave(context, unit)
        var words = [UInt16](repeating: 0, count: Int(count))
        let rc = modbus_read_input_registers(context, address, count, &words)
        if rc < 0 { let e = errno; modbus_flush(context); return .failure(ClientError(e)) }
        return .success(words)
    }

    func readHolding(unit: Int32, address: Int32, count: Int32) -> Result<[UInt16], ClientError> {
        modbus_set_slave(context, unit)
        var words = [UInt16](repeating: 0, count: Int(count))
        let rc = modbus_read_registers(context, address, count, &words)
        if rc < 0 { let e = errno; modbus_flush(context); return .failure(ClientError(e)) }
        return .success(words)
    }

    func readCoils(unit: Int32, address: Int32, count: Int32) -> Result<[UInt8], ClientError> {
        modbus_set_slave(context, unit)
        var bits = [UInt8](repeating: 0, count: Int(count))
        let rc = modbus_read_bits(context, address, count, &bits)
        if rc < 0 { let e = errno; modbus_flush(context); return .failure(ClientError(e)) }
        return .success(bits)
    }

    func writeCoil(unit: Int32, address: Int32, on: Bool) -> Result<Void, ClientError> {
        modbus_set_slave(context, unit)
        let rc = modbus_write_bit(context, address, on ? 1 : 0)
        if rc < 0 { let e = errno; modbus_flush(context); return .failure(ClientError(e)) }
        return .success(())
    }

    /// libmodbus's own ABCD float reader (the readers are right in 3.1.6; the setters are not).
    static func floatABCD(_ words: [UInt16]) -> Float {
        words.withUnsafeBufferPointer { modbus_get_float_abcd($0.baseAddress) }
    }
}

extension Result {
    var failure: Failure? { if case let .failure(e) = self { return e }; return nil }
    var value: Success? { if case let .success(v) = self { return v }; return nil }
}
