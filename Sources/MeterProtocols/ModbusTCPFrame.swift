/// Modbus TCP framing (Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1.3): a 7-byte MBAP
/// header — transaction id, protocol id 0, length of what follows, unit id — then the PDU. Pure
/// byte work for a client that has one request in flight per connection; the socket is the caller's.
public enum ModbusTCP {
    public static let headerLength = 7
    /// The largest ADU: the header plus a 253-byte PDU.
    public static let maxADU = 260
    /// The MBAP length field counts the unit id and the PDU: 2 (unit and function) up to 254.
    public static let lengthField = 2...(maxADU - 6)

    /// One request's PDU.
    public enum Request: Sendable, Hashable {
        /// Functions 1 to 4: `count` bits or registers from `address`.
        case read(function: UInt8, address: UInt16, count: UInt16)
        /// Function 5.
        case writeCoil(address: UInt16, value: Bool)
        /// Function 6.
        case writeRegister(address: UInt16, value: UInt16)
        /// Function 16.
        case writeRegisters(address: UInt16, values: [UInt16])

        public var function: UInt8 {
            switch self {
            case let .read(function, _, _): function
            case .writeCoil: 0x05
            case .writeRegister: 0x06
            case .writeRegisters: 0x10
            }
        }
    }

    /// Replaces `buffer`'s contents with the request ADU (its capacity is kept: one buffer per
    /// connection serves every request).
    public static func encode(_ request: Request, transaction: UInt16, unit: UInt8, into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        let pduLength: Int = switch request {
        case .read, .writeCoil, .writeRegister: 5
        case let .writeRegisters(_, values): 6 + 2 * values.count
        }
        append(transaction, to: &buffer)
        append(0, to: &buffer)
        append(UInt16(1 + pduLength), to: &buffer)
        buffer.append(unit)
        buffer.append(request.function)
        switch request {
        case let .read(_, address, count):
            append(address, to: &buffer)
            append(count, to: &buffer)
        case let .writeCoil(address, value):
            append(address, to: &buffer)
            append(value ? 0xFF00 : 0x0000, to: &buffer)
        case let .writeRegister(address, value):
            append(address, to: &buffer)
            append(value, to: &buffer)
        case let .writeRegisters(address, values):
            append(address, to: &buffer)
            append(UInt16(values.count), to: &buffer)
            buffer.append(UInt8(truncatingIfNeeded: 2 * values.count))
            for value in values { append(value, to: &buffer) }
        }
    }

    private static func append(_ word: UInt16, to buffer: inout [UInt8]) {
        buffer.append(UInt8(word >> 8))
        buffer.append(UInt8(word & 0xFF))
    }
}

/// What was wrong with a reply, for the error a technician reads.
public enum ModbusTCPDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The MBAP protocol id was not 0 (not Modbus, or the stream is out of step).
    case protocolID(UInt16)
    /// The MBAP length field was outside 2...254.
    case length(Int)
    /// The reply came from another unit than the one asked.
    case unit(expected: UInt8, received: UInt8)
    /// The reply was for another function than the one asked.
    case function(expected: UInt8, received: UInt8)
    /// The PDU had the wrong size for the request (byte count, items, an exception without its code).
    case size(expected: Int, received: Int)
    /// A write reply that does not echo the request's address or value.
    case echo(field: String, expected: UInt16, received: UInt16)

    public var description: String {
        switch self {
        case let .protocolID(id): "MBAP protocol id \(id), expected 0"
        case let .length(length): "MBAP length \(length) outside \(ModbusTCP.lengthField.lowerBound)...\(ModbusTCP.lengthField.upperBound)"
        case let .unit(expected, received): "reply from unit \(received), asked unit \(expected)"
        case let .function(expected, received): "reply for function 0x\(Hex.byte(received)), asked 0x\(Hex.byte(expected))"
        case let .size(expected, received): "reply PDU of \(received) bytes, expected \(expected)"
        case let .echo(field, expected, received): "write reply echoes \(field) \(received), sent \(expected)"
        }
    }
}

/// Takes a TCP byte stream as it arrives and finds the reply to the one request in flight.
///
/// `expect` names the request; `decode()` returns nil until a whole ADU is there. A complete reply
/// with another transaction id is the late answer to a request that timed out: it is skipped, not
/// an error. Anything else that does not fit is a `ModbusTCPDecodeError`, after which the buffered
/// bytes are dropped (the stream cannot be trusted to be in step any more).
public struct ModbusTCPReplyDecoder: Sendable {
    public enum Reply: Sendable, Hashable {
        /// Registers, or bits as 0/1 words; empty for a write.
        case values([UInt16])
        case exception(ModbusExceptionCode)
    }

    private var expected: (transaction: UInt16, unit: UInt8, request: ModbusTCP.Request)?
    /// Room for what one read brings (`2 * maxADU` at most) beside an incomplete reply.
    private var window = ByteWindow(capacity: 4 * ModbusTCP.maxADU)
    /// Late replies skipped so far.
    public private(set) var staleReplies = 0

    public init() {}

    /// Bytes received and not yet decoded.
    public var bufferedCount: Int { window.count }

    /// The request now in flight: later bytes are matched against it.
    public mutating func expect(transaction: UInt16, unit: UInt8, request: ModbusTCP.Request) {
        expected = (transaction, unit, request)
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        window.append(contentsOf: bytes)
    }

    /// Drops what is buffered (bytes arriving while no request is in flight).
    public mutating func reset() {
        window.reset()
    }

    /// The reply to the expected request, nil while it is incomplete.
    public mutating func decode() throws(ModbusTCPDecodeError) -> Reply? {
        while window.count >= ModbusTCP.headerLength {
            let protocolID = word(2), length = Int(word(4))
            guard protocolID == 0 else { throw failed(.protocolID(protocolID)) }
            guard ModbusTCP.lengthField.contains(length) else { throw failed(.length(length)) }
            let total = 6 + length
            guard window.count >= total else { return nil }
            guard let expected, word(0) == expected.transaction else {
                staleReplies += 1
                window.consume(total)
                continue
            }
            do throws(ModbusTCPDecodeError) {
                let reply = try Self.reply(window.bytes[(window.head + 6)..<(window.head + total)], unit: expected.unit,
                                           request: expected.request)
                window.consume(total)
                self.expected = nil
                return reply
            } catch {
                throw failed(error)
            }
        }
        return nil
    }

    private func word(_ offset: Int) -> UInt16 {
        UInt16(window.bytes[window.head + offset]) << 8 | UInt16(window.bytes[window.head + offset + 1])
    }

    private mutating func failed(_ error: ModbusTCPDecodeError) -> ModbusTCPDecodeError {
        reset()
        return error
    }

    /// Checks the unit id and PDU (`adu` starts at the unit id) against the request.
    private static func reply(_ adu: ArraySlice<UInt8>, unit: UInt8, request: ModbusTCP.Request) throws(ModbusTCPDecodeError) -> Reply {
        let base = adu.startIndex
        let pduLength = adu.count - 1
        guard adu[base] == unit else { throw .unit(expected: unit, received: adu[base]) }
        let function = adu[base + 1]
        if function == request.function | 0x80 {
            guard pduLength == 2 else { throw .size(expected: 2, received: pduLength) }
            return .exception(ModbusExceptionCode(rawValue: adu[base + 2]))
        }
        guard function == request.function else { throw .function(expected: request.function, received: function) }
        let data = base + 2
        func word(_ i: Int) -> UInt16 { UInt16(adu[i]) << 8 | UInt16(adu[i + 1]) }
        switch request {
        case let .read(function, _, count):
            let isBits = function == 0x01 || function == 0x02
            let byteCount = isBits ? (Int(count) + 7) / 8 : 2 * Int(count)
            guard pduLength == 2 + byteCount else { throw .size(expected: 2 + byteCount, received: pduLength) }
            guard Int(adu[data]) == byteCount else { throw .size(expected: 2 + byteCount, received: 2 + Int(adu[data])) }
            let values = data + 1
            if isBits {
                return .values((0..<Int(count)).map { i in UInt16(adu[values + i / 8] >> (i % 8) & 1) })
            }
            return .values((0..<Int(count)).map { i in word(values + 2 * i) })
        case let .writeCoil(address, value):
            try checkEcho(adu, data: data, address: address, second: ("value", value ? 0xFF00 : 0x0000))
        case let .writeRegister(address, value):
            try checkEcho(adu, data: data, address: address, second: ("value", value))
        case let .writeRegisters(address, values):
            try checkEcho(adu, data: data, address: address, second: ("count", UInt16(values.count)))
        }
        return .values([])
    }

    /// Writes answer with their address and value (or count) echoed.
    private static func checkEcho(_ adu: ArraySlice<UInt8>, data: Int, address: UInt16,
                                  second: (field: String, value: UInt16)) throws(ModbusTCPDecodeError) {
        let pduLength = adu.count - 1
        guard pduLength == 5 else { throw .size(expected: 5, received: pduLength) }
        let echoedAddress = UInt16(adu[data]) << 8 | UInt16(adu[data + 1])
        guard echoedAddress == address else { throw .echo(field: "address", expected: address, received: echoedAddress) }
        let echoed = UInt16(adu[data + 2]) << 8 | UInt16(adu[data + 3])
        guard echoed == second.value else { throw .echo(field: second.field, expected: second.value, received: echoed) }
    }
}
