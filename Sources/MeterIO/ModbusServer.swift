import CModbus
import MeterProtocols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed call on libmodbus's server side, with errno's (or libmodbus's) message.
public struct ModbusServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String {
        let text = modbus_strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return "\(operation): \(text)"
    }
}

/// The four data tables a libmodbus server answers from: owns one `modbus_mapping_t`.
/// Each table covers `start ..< start + count`; a request outside it gets exception 02.
public final class ModbusRegisterMap {
    let mapping: UnsafeMutablePointer<modbus_mapping_t>

    public init(ranges: [RegisterTable: Range<Int>]) throws(ModbusServerError) {
        func bounds(_ table: RegisterTable) -> (UInt32, UInt32) {
            guard let range = ranges[table], !range.isEmpty else { return (0, 0) }
            return (UInt32(range.lowerBound), UInt32(range.count))
        }
        let coils = bounds(.coil), discrete = bounds(.discrete), holding = bounds(.holding), input = bounds(.input)
        guard let mapping = modbus_mapping_new_start_address(coils.0, coils.1, discrete.0, discrete.1,
                                                             holding.0, holding.1, input.0, input.1) else {
            throw ModbusServerError("modbus_mapping_new_start_address", code: errno)
        }
        self.mapping = mapping
    }

    deinit { modbus_mapping_free(mapping) }

    /// Writes words (for bit tables: 0 or non-zero per bit) starting at `address`; whatever falls
    /// outside the table is ignored.
    public func store(_ table: RegisterTable, at address: Int, _ words: [UInt16]) {
        let m = mapping.pointee
        for (i, word) in words.enumerated() {
            let a = address + i
            switch table {
            case .holding:
                if let index = Self.index(a, start: m.start_registers, count: m.nb_registers) { m.tab_registers[index] = word }
            case .input:
                if let index = Self.index(a, start: m.start_input_registers, count: m.nb_input_registers) { m.tab_input_registers[index] = word }
            case .coil:
                if let index = Self.index(a, start: m.start_bits, count: m.nb_bits) { m.tab_bits[index] = word != 0 ? 1 : 0 }
            case .discrete:
                if let index = Self.index(a, start: m.start_input_bits, count: m.nb_input_bits) { m.tab_input_bits[index] = word != 0 ? 1 : 0 }
            }
        }
    }

    /// Reads `count` words (bits as 0/1) starting at `address`, or nil if any is outside the table.
    public func load(_ table: RegisterTable, at address: Int, count: Int) -> [UInt16]? {
        let m = mapping.pointee
        var words: [UInt16] = []
        words.reserveCapacity(count)
        for a in address..<(address + count) {
            switch table {
            case .holding:
                guard let index = Self.index(a, start: m.start_registers, count: m.nb_registers) else { return nil }
                words.append(m.tab_registers[index])
            case .input:
                guard let index = Self.index(a, start: m.start_input_registers, count: m.nb_input_registers) else { return nil }
                words.append(m.tab_input_registers[index])
            case .coil:
                guard let index = Self.index(a, start: m.start_bits, count: m.nb_bits) else { return nil }
                words.append(UInt16(m.tab_bits[index]))
            case .discrete:
                guard let index = Self.index(a, start: m.start_input_bits, count: m.nb_input_bits) else { return nil }
                words.append(UInt16(m.tab_input_bits[index]))
            }
        }
        return words
    }

    private static func index(_ address: Int, start: Int32, count: Int32) -> Int? {
        let i = address - Int(start)
        return i >= 0 && i < Int(count) ? i : nil
    }
}

/// How a reply is framed on the wire.
public enum ModbusFraming: Sendable, Hashable {
    /// Unit address + PDU + CRC.
    case rtu
    /// MBAP header (transaction id, protocol 0, length, unit) + PDU.
    case tcp
}

/// Builds replies with libmodbus's own server code (`modbus_reply`) without letting libmodbus
/// touch the real line: the context's socket is one end of a private socket pair, and the reply
/// bytes are read back from the other end. The caller then paces, delays or corrupts them.
public final class ModbusReplyBuilder {
    public let framing: ModbusFraming
    private let context: OpaquePointer
    /// libmodbus writes here (TCP contexts use send(), so this must be a socket, not a pipe).
    private let libmodbusEnd: Int32
    private let readEnd: Int32

    public init(framing: ModbusFraming) throws(ModbusServerError) {
        self.framing = framing
        // Never connected: the device name and address are only stored.
        let made: OpaquePointer? = switch framing {
        case .rtu: modbus_new_rtu("/dev/null", 9600, CChar(bitPattern: UInt8(ascii: "N")), 8, 1)
        case .tcp: modbus_new_tcp("127.0.0.1", 0)
        }
        guard let context = made else { throw ModbusServerError("modbus_new", code: errno) }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            let code = errno
            modbus_free(context)
            throw ModbusServerError("socketpair", code: code)
        }
        let flags = fcntl(pair[1], F_GETFL)
        _ = fcntl(pair[1], F_SETFL, flags | O_NONBLOCK)
        modbus_set_socket(context, pair[0])
        // Some malformed requests make modbus_reply sleep for the response timeout before it
        // answers (to flush a confused line); the smallest timeout keeps the serving thread moving.
        modbus_set_response_timeout(context, 0, 1)
        self.context = context
        self.libmodbusEnd = pair[0]
        self.readEnd = pair[1]
    }

    deinit {
        modbus_set_socket(context, -1)
        modbus_free(context)
        close(libmodbusEnd)
        close(readEnd)
    }

    /// libmodbus's reply to `request` (a whole ADU: RTU with its CRC, TCP with its MBAP header)
    /// from `map`. Writes change `map`. An RTU broadcast (unit 0) gets no reply: empty.
    public func reply(to request: [UInt8], map: ModbusRegisterMap) throws(ModbusServerError) -> [UInt8] {
        if framing == .rtu { modbus_set_slave(context, Int32(request[0])) }
        let rc = request.withUnsafeBufferPointer { modbus_reply(context, $0.baseAddress, Int32($0.count), map.mapping) }
        guard rc >= 0 else { throw ModbusServerError("modbus_reply", code: errno) }
        return drain()
    }

    /// An exception reply with `code` to `request`.
    public func exception(to request: [UInt8], code: ModbusExceptionCode) throws(ModbusServerError) -> [UInt8] {
        if framing == .rtu { modbus_set_slave(context, Int32(request[0])) }
        let rc = request.withUnsafeBufferPointer { modbus_reply_exception(context, $0.baseAddress, UInt32(code.rawValue)) }
        guard rc >= 0 else { throw ModbusServerError("modbus_reply_exception", code: errno) }
        return drain()
    }

    private func drain() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(readEnd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            out.append(contentsOf: chunk.prefix(n))
        }
        return out
    }
}
