import Testing
@testable import MeterProtocols

/// The stream decoder gets the same input one byte at a time, all at once, and as two frames in
/// one buffer, and must give the same frames every way (after swift-nio's ByteToMessageDecoderVerifier).
@Suite struct CJT188StreamDecoderTests {
    static let water = CJT188CodecTests.bytes(CJT188CodecTests.waterReply)
    static let gas = CJT188CodecTests.bytes(CJT188CodecTests.gasReply)
    static let valve = CJT188CodecTests.bytes(CJT188CodecTests.valveReply)

    /// Decodes `input` in chunks of `chunk` bytes (0 = all at once).
    static func decodeAll(_ input: [UInt8], chunk: Int) -> (frames: [CJT188Frame], decoder: CJT188StreamDecoder) {
        var decoder = CJT188StreamDecoder()
        var frames: [CJT188Frame] = []
        var offset = 0
        let step = chunk == 0 ? max(1, input.count) : chunk
        while offset < input.count {
            decoder.append(input[offset..<min(input.count, offset + step)])
            while let frame = decoder.nextFrame() { frames.append(frame) }
            offset += step
        }
        return (frames, decoder)
    }

    /// Every way of feeding must yield `expected`.
    static func verify(_ input: [UInt8], yields expected: [[UInt8]]) throws {
        let wanted = try expected.map { try CJT188Frame.decode($0) }
        for chunk in [1, 2, 3, 7, 0] {
            let (frames, _) = decodeAll(input, chunk: chunk)
            #expect(frames == wanted, "chunk \(chunk)")
        }
    }

    @Test func oneFrameAnyChunking() throws {
        try Self.verify(Self.water, yields: [Self.water])
        try Self.verify(Self.gas, yields: [Self.gas])
    }

    @Test func twoFramesInOneBuffer() throws {
        try Self.verify(Self.water + Self.gas, yields: [Self.water, Self.gas])
        try Self.verify(Self.valve + Self.valve + Self.gas, yields: [Self.valve, Self.valve, Self.gas])
    }

    @Test func garbageBeforeAFrameIsSkipped() throws {
        // Includes a 68 that announces a 255-byte frame, and stray 16s.
        let garbage: [UInt8] = [0x00, 0x16, 0x68, 0x10, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x81, 0xFF, 0x16, 0xFE]
        try Self.verify(garbage + Self.gas, yields: [Self.gas])
        let (frames, decoder) = Self.decodeAll(garbage + Self.gas, chunk: 0)
        #expect(frames.count == 1)
        #expect(decoder.discardedBytes >= garbage.count)
        #expect(decoder.bufferedCount == 0)
    }

    @Test func truncatedFrameThenAGoodOne() throws {
        let truncated = Array(Self.gas.prefix(20))
        try Self.verify(truncated + Self.valve, yields: [Self.valve])
        // A truncated frame alone waits for more and yields nothing.
        let (frames, decoder) = Self.decodeAll(truncated, chunk: 1)
        #expect(frames.isEmpty)
        #expect(decoder.bufferedCount > 0)
    }

    @Test func frameBytesInsideData() throws {
        // DATA full of 68, 16 and FE: the length field, not the byte values, ends the frame.
        let frame = CJT188Frame(meterType: .coldWater, address: CJT188Address(written: "00000000001234")!,
                                control: CJT188Control(rawValue: 0x81), data: [0x90, 0x1F, 0x00, 0x68, 0x16, 0xFE, 0x16, 0x68])
        try Self.verify(frame.encoded(preamble: 2) + Self.valve, yields: [frame.encoded(), Self.valve])
    }

    @Test func badChecksumIsCountedAndSkipped() throws {
        var bad = Self.valve
        bad[bad.count - 2] ^= 0xFF
        try Self.verify(bad + Self.gas, yields: [Self.gas])
        let (_, decoder) = Self.decodeAll(bad + Self.gas, chunk: 0)
        #expect(decoder.checksumErrors == 1)
    }

    @Test func resetDropsAPartialFrame() throws {
        var decoder = CJT188StreamDecoder()
        decoder.append(Array(Self.gas.prefix(10)))
        #expect(decoder.nextFrame() == nil)
        decoder.reset()
        decoder.append(Self.valve)
        #expect(try decoder.nextFrame() == CJT188Frame.decode(Self.valve))
        #expect(decoder.nextFrame() == nil)
    }

    @Test func bufferStaysBounded() {
        var decoder = CJT188StreamDecoder(capacity: 300)
        for _ in 0..<100 { decoder.append([UInt8](repeating: 0x68, count: 50)) ; _ = decoder.nextFrame() }
        #expect(decoder.bufferedCount <= decoder.capacity)
    }
}
