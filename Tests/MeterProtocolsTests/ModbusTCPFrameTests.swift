import Testing
@testable import MeterProtocols

/// Modbus TCP requests byte for byte, and replies fed one byte at a time, in chunks and all at once.
/// The vectors follow the Modbus Application Protocol's own examples (§6), wrapped in an MBAP header.
@Suite struct ModbusTCPFrameTests {
    static func encoded(_ request: ModbusTCP.Request, transaction: UInt16, unit: UInt8) -> [UInt8] {
        var buffer: [UInt8] = []
        ModbusTCP.encode(request, transaction: transaction, unit: unit, into: &buffer)
        return buffer
    }

    @Test func requestsCarryTheHeaderAndPDU() {
        // Read holding registers 108..110 of unit 17 (MAP §6.3).
        #expect(Self.encoded(.read(function: 0x03, address: 107, count: 3), transaction: 0x0102, unit: 17)
            == [0x01, 0x02, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03])
        #expect(Self.encoded(.read(function: 0x01, address: 19, count: 19), transaction: 1, unit: 1)
            == [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x13, 0x00, 0x13])
        #expect(Self.encoded(.writeCoil(address: 172, value: true), transaction: 2, unit: 1)
            == [0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x05, 0x00, 0xAC, 0xFF, 0x00])
        #expect(Self.encoded(.writeRegister(address: 1, value: 3), transaction: 3, unit: 1)
            == [0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x01, 0x00, 0x03])
        // Write registers 2 and 3 with 0x000A 0x0102 (MAP §6.12).
        #expect(Self.encoded(.writeRegisters(address: 1, values: [0x000A, 0x0102]), transaction: 0xFFFF, unit: 9)
            == [0xFF, 0xFF, 0x00, 0x00, 0x00, 0x0B, 0x09, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02])
    }

    @Test func oneBufferServesEveryRequest() {
        var buffer: [UInt8] = []
        ModbusTCP.encode(.writeRegisters(address: 0, values: [UInt16](repeating: 7, count: 100)), transaction: 1, unit: 1, into: &buffer)
        let capacity = buffer.capacity
        ModbusTCP.encode(.read(function: 0x04, address: 0, count: 2), transaction: 2, unit: 1, into: &buffer)
        #expect(buffer.count == 12)
        #expect(buffer.capacity == capacity)
    }

    /// Feeds `input` in chunks of `chunk` bytes (0 = all at once) and returns the first outcome.
    static func decode(_ input: [UInt8], chunk: Int, transaction: UInt16 = 0x0102, unit: UInt8 = 17,
                       request: ModbusTCP.Request = .read(function: 0x03, address: 107, count: 3))
        -> (Result<ModbusTCPReplyDecoder.Reply, ModbusTCPDecodeError>?, ModbusTCPReplyDecoder) {
        var decoder = ModbusTCPReplyDecoder()
        decoder.expect(transaction: transaction, unit: unit, request: request)
        let step = chunk == 0 ? max(1, input.count) : chunk
        var offset = 0
        while offset < input.count {
            decoder.append(input[offset..<min(input.count, offset + step)])
            offset += step
            do throws(ModbusTCPDecodeError) {
                if let reply = try decoder.decode() { return (.success(reply), decoder) }
            } catch {
                return (.failure(error), decoder)
            }
        }
        return (nil, decoder)
    }

    static func verify(_ input: [UInt8], yields expected: Result<ModbusTCPReplyDecoder.Reply, ModbusTCPDecodeError>?,
                       transaction: UInt16 = 0x0102, unit: UInt8 = 17,
                       request: ModbusTCP.Request = .read(function: 0x03, address: 107, count: 3)) {
        for chunk in [1, 2, 5, 7, 0] {
            let (outcome, _) = decode(input, chunk: chunk, transaction: transaction, unit: unit, request: request)
            #expect(outcome == expected, "chunk \(chunk)")
        }
    }

    static let registersReply: [UInt8] = [0x01, 0x02, 0x00, 0x00, 0x00, 0x09, 0x11, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]

    @Test func registerReplyInAnyChunks() {
        Self.verify(Self.registersReply, yields: .success(.values([0x022B, 0x0000, 0x0064])))
    }

    @Test func bitsComeBackAsWords() {
        // Coils 20..38 (MAP §6.1): CD 6B 05 → 19 bits, low bit first.
        let reply: [UInt8] = [0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x03, 0xCD, 0x6B, 0x05]
        let bits: [UInt16] = [1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1]
        Self.verify(reply, yields: .success(.values(bits)), transaction: 7, unit: 1, request: .read(function: 0x01, address: 19, count: 19))
    }

    @Test func exceptionReply() {
        let reply: [UInt8] = [0x01, 0x02, 0x00, 0x00, 0x00, 0x03, 0x11, 0x83, 0x02]
        Self.verify(reply, yields: .success(.exception(.illegalDataAddress)))
    }

    @Test func writeRepliesEchoTheRequest() {
        let coil: [UInt8] = [0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x05, 0x00, 0xAC, 0xFF, 0x00]
        Self.verify(coil, yields: .success(.values([])), transaction: 2, unit: 1, request: .writeCoil(address: 172, value: true))
        Self.verify(coil, yields: .failure(.echo(field: "value", expected: 0, received: 0xFF00)), transaction: 2, unit: 1,
                    request: .writeCoil(address: 172, value: false))
        let registers: [UInt8] = [0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x09, 0x10, 0x00, 0x01, 0x00, 0x02]
        Self.verify(registers, yields: .success(.values([])), transaction: 3, unit: 9,
                    request: .writeRegisters(address: 1, values: [10, 258]))
        Self.verify(registers, yields: .failure(.echo(field: "address", expected: 2, received: 1)), transaction: 3, unit: 9,
                    request: .writeRegisters(address: 2, values: [10, 258]))
        let single: [UInt8] = [0x00, 0x04, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x01, 0x00, 0x03]
        Self.verify(single, yields: .success(.values([])), transaction: 4, unit: 1, request: .writeRegister(address: 1, value: 3))
    }

    @Test func aLateReplyIsSkippedNotAnError() {
        // The reply to transaction 0x0101 (timed out) arrives first, then the one asked for.
        var late = Self.registersReply
        late[1] = 0x01
        late[10] = 0xFF
        Self.verify(late + Self.registersReply, yields: .success(.values([0x022B, 0x0000, 0x0064])))
        let (outcome, decoder) = Self.decode(late + Self.registersReply, chunk: 0)
        #expect(outcome != nil)
        #expect(decoder.staleReplies == 1)
        #expect(decoder.bufferedCount == 0)
        // Only the late reply so far: still waiting.
        Self.verify(late, yields: nil)
    }

    @Test func twoRepliesInOneBufferLeaveTheSecondBuffered() throws {
        var decoder = ModbusTCPReplyDecoder()
        var second = Self.registersReply
        second[1] = 0x03
        decoder.expect(transaction: 0x0102, unit: 17, request: .read(function: 0x03, address: 107, count: 3))
        decoder.append(Self.registersReply + second)
        #expect(try decoder.decode() == .values([0x022B, 0x0000, 0x0064]))
        #expect(decoder.bufferedCount == second.count)
        decoder.expect(transaction: 0x0103, unit: 17, request: .read(function: 0x03, address: 107, count: 3))
        #expect(try decoder.decode() == .values([0x022B, 0x0000, 0x0064]))
        #expect(decoder.bufferedCount == 0)
    }

    @Test func malformedRepliesNameWhatWasWrong() {
        var reply = Self.registersReply
        reply[2] = 0x12
        Self.verify(reply, yields: .failure(.protocolID(0x1200)))
        reply = Self.registersReply
        reply[5] = 0x01
        Self.verify(reply, yields: .failure(.length(1)))
        reply = Self.registersReply
        reply[4] = 0x01
        Self.verify(reply, yields: .failure(.length(0x109)))
        reply = Self.registersReply
        reply[6] = 0x12
        Self.verify(reply, yields: .failure(.unit(expected: 17, received: 18)))
        reply = Self.registersReply
        reply[7] = 0x04
        Self.verify(reply, yields: .failure(.function(expected: 3, received: 4)))
        // Two registers where three were asked for.
        let short: [UInt8] = [0x01, 0x02, 0x00, 0x00, 0x00, 0x07, 0x11, 0x03, 0x04, 0x02, 0x2B, 0x00, 0x00]
        Self.verify(short, yields: .failure(.size(expected: 8, received: 6)))
        // A byte count that disagrees with the MBAP length.
        reply = Self.registersReply
        reply[8] = 0x04
        Self.verify(reply, yields: .failure(.size(expected: 8, received: 6)))
        let exceptionWithoutCode: [UInt8] = [0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x11, 0x83]
        Self.verify(exceptionWithoutCode, yields: .failure(.size(expected: 2, received: 1)))
        #expect(ModbusTCPDecodeError.unit(expected: 17, received: 18).description == "reply from unit 18, asked unit 17")
    }

    @Test func garbageIsDroppedAndTheNextReplyDecodes() throws {
        var decoder = ModbusTCPReplyDecoder()
        decoder.expect(transaction: 0x0102, unit: 17, request: .read(function: 0x03, address: 107, count: 3))
        decoder.append([0x48, 0x54, 0x54, 0x50, 0x2F, 0x31, 0x2E, 0x31]) // "HTTP/1.1"
        #expect(throws: ModbusTCPDecodeError.protocolID(0x5450)) { try decoder.decode() }
        #expect(decoder.bufferedCount == 0)
        decoder.expect(transaction: 0x0102, unit: 17, request: .read(function: 0x03, address: 107, count: 3))
        decoder.append(Self.registersReply)
        #expect(try decoder.decode() == .values([0x022B, 0x0000, 0x0064]))
    }

    @Test func maximalReadFits() {
        // 125 registers: the largest register reply, 259 bytes.
        let values = (0..<125).map { UInt16($0 * 3) }
        var reply: [UInt8] = [0x00, 0x05, 0x00, 0x00, 0x00, 0xFD, 0x01, 0x04, 250]
        for v in values { reply += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        #expect(reply.count <= ModbusTCP.maxADU)
        Self.verify(reply, yields: .success(.values(values)), transaction: 5, unit: 1, request: .read(function: 0x04, address: 0, count: 125))
    }
}
