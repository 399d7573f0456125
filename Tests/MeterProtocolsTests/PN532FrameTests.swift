import Testing
@testable import MeterProtocols

/// PN532 host-protocol frames: the vectors of PROTOCOLS.md and UM0701-02, decoded one byte at a
/// time, all at once and two in one buffer, after wake-up bytes and garbage.
@Suite struct PN532FrameTests {
    static let getFirmwareVersion: [UInt8] = [0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00]
    static let samConfiguration: [UInt8] = [0x00, 0x00, 0xFF, 0x05, 0xFB, 0xD4, 0x14, 0x01, 0x00, 0x00, 0x17, 0x00]
    static let inListPassiveTarget: [UInt8] = [0x00, 0x00, 0xFF, 0x04, 0xFC, 0xD4, 0x4A, 0x01, 0x00, 0xE1, 0x00]
    /// IC 32 (PN532), version 1, revision 6, supports ISO 14443-A, -B and ISO 18092 (07).
    static let firmwareReply: [UInt8] = [0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0xE8, 0x00]

    static func decodeAll(_ input: [UInt8], chunk: Int) -> (messages: [PN532Message], decoder: PN532StreamDecoder) {
        var decoder = PN532StreamDecoder()
        var messages: [PN532Message] = []
        let step = chunk == 0 ? max(1, input.count) : chunk
        var offset = 0
        while offset < input.count {
            decoder.append(input[offset..<min(input.count, offset + step)])
            while let message = decoder.next() { messages.append(message) }
            offset += step
        }
        return (messages, decoder)
    }

    static func verify(_ input: [UInt8], yields expected: [PN532Message], sourceLocation: SourceLocation = #_sourceLocation) {
        for chunk in [1, 2, 3, 5, 0] {
            #expect(decodeAll(input, chunk: chunk).messages == expected, "chunk \(chunk)", sourceLocation: sourceLocation)
        }
    }

    @Test func encodesTheDocumentedCommands() {
        #expect(PN532Frame.command(PN532Command.getFirmwareVersion).encoded() == Self.getFirmwareVersion)
        #expect(PN532Frame.command(PN532Command.samConfiguration, [0x01, 0x00, 0x00]).encoded() == Self.samConfiguration)
        #expect(PN532Frame.command(PN532Command.inListPassiveTarget, [0x01, 0x00]).encoded() == Self.inListPassiveTarget)
        #expect(PN532Frame.reply(to: PN532Command.getFirmwareVersion, [0x32, 0x01, 0x06, 0x07]).encoded() == Self.firmwareReply)
    }

    @Test func decodesAnyChunking() {
        Self.verify(Self.firmwareReply, yields: [.frame(.reply(to: 0x02, [0x32, 0x01, 0x06, 0x07]))])
        Self.verify(Self.inListPassiveTarget + Self.getFirmwareVersion,
                    yields: [.frame(.command(0x4A, [0x01, 0x00])), .frame(.command(0x02))])
        Self.verify(PN532Frame.ack + Self.firmwareReply + PN532Frame.nack + PN532Frame.errorFrame,
                    yields: [.ack, .frame(.reply(to: 0x02, [0x32, 0x01, 0x06, 0x07])), .nack, .applicationError])
    }

    @Test func skipsBothWakeUps() {
        let libnfc: [UInt8] = [0x55, 0x55] + [UInt8](repeating: 0, count: 14)
        Self.verify(libnfc + Self.samConfiguration, yields: [.frame(.command(0x14, [0x01, 0x00, 0x00]))])
        let nfcpy = [UInt8](repeating: 0, count: 10)
        Self.verify(nfcpy + Self.getFirmwareVersion, yields: [.frame(.command(0x02))])
        Self.verify(PN532Frame.wakeUp + Self.getFirmwareVersion, yields: [.frame(.command(0x02))])
    }

    @Test func resynchronisesAfterGarbage() {
        // Holds stray start codes: `00 FF` with a wrong LCS, and one announcing an extended frame.
        let garbage: [UInt8] = [0x13, 0x00, 0xFF, 0x07, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x10, 0x22, 0xFF, 0x7E, 0x55]
        Self.verify(garbage + Self.getFirmwareVersion, yields: [.frame(.command(0x02))])
        let (messages, decoder) = Self.decodeAll(garbage + Self.getFirmwareVersion, chunk: 0)
        #expect(messages.count == 1)
        #expect(decoder.discardedBytes >= garbage.count)
        // Only the postamble 00 stays: it could begin the next start code.
        #expect(decoder.bufferedCount == 1)
    }

    @Test func badDataChecksumIsReportedThenTheNextFrameDecodes() {
        var corrupt = Self.firmwareReply
        corrupt[11] ^= 0x01
        Self.verify(corrupt + Self.firmwareReply,
                    yields: [.checksumError, .frame(.reply(to: 0x02, [0x32, 0x01, 0x06, 0x07]))])
    }

    @Test func truncatedFrameWaits() {
        let (messages, decoder) = Self.decodeAll(Array(Self.firmwareReply.prefix(9)), chunk: 1)
        #expect(messages.isEmpty)
        #expect(decoder.bufferedCount > 0)
    }

    @Test func extendedFramesRoundTrip() {
        let long = PN532Frame.reply(to: PN532Command.inDataExchange, [0x00] + (0..<255).map { UInt8(truncatingIfNeeded: $0) })
        let bytes = long.encoded()
        #expect(Array(bytes.prefix(5)) == [0x00, 0x00, 0xFF, 0xFF, 0xFF])
        #expect(bytes.count == 8 + 1 + 257 + 2)
        Self.verify(bytes + Self.firmwareReply, yields: [.frame(long), .frame(.reply(to: 0x02, [0x32, 0x01, 0x06, 0x07]))])
    }
}
