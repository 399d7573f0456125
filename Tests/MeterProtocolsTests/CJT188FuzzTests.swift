import Testing
@testable import MeterProtocols

/// A million random and mutated frames through the CJ/T 188 stream decoder: no crash, no hang,
/// bounded memory, and a valid frame that follows the noise (no reset between them) still comes out.
@Suite struct CJT188FuzzTests {
    /// xorshift64*: fixed seed so a failure can be replayed.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    }

    static func validFrame(_ r: inout Random) -> [UInt8] {
        let length = r.below(24)
        var data: [UInt8] = []
        for _ in 0..<length { data.append(r.byte()) }
        var wire: [UInt8] = []
        for _ in 0..<7 { wire.append(CJT188BCD.byte(r.below(100))) }
        let frame = CJT188Frame(meterType: CJT188MeterType(rawValue: r.byte()), address: CJT188Address(wire: wire)!,
                                control: CJT188Control(rawValue: r.byte()), data: data)
        return frame.encoded(preamble: r.below(4))
    }

    // A bound for a hang, not a speed check: the aarch64 run under qemu takes ~45 s.
    @Test(.timeLimit(.minutes(3))) func aMillionRandomAndMutatedFrames() throws {
        var r = Random(state: 0x9E37_79B9_7F4A_7C15)
        var decoder = CJT188StreamDecoder()
        let sentinel = CJT188CodecTests.bytes(CJT188CodecTests.valveReply)
        let sentinelFrame = try CJT188Frame.decode(sentinel)
        var decoded = 0
        var sentinelsSeen = 0
        var sentinelsSent = 0
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        for i in 0..<1_000_000 {
            var frame = Self.validFrame(&r)
            switch r.below(6) {
            case 0: // pure noise of the same length
                for j in frame.indices { frame[j] = r.byte() }
            case 1: // flip a few bytes
                for _ in 0...r.below(3) { frame[r.below(frame.count)] ^= UInt8(1 + r.below(255)) }
            case 2: // truncate
                frame = Array(frame.prefix(r.below(frame.count)))
            case 3: // corrupt the length byte
                if let start = frame.firstIndex(of: 0x68), start + 10 < frame.count { frame[start + 10] = r.byte() }
            default: // left valid
                break
            }
            buffer.append(contentsOf: frame)
            // Every so often a known-good frame right after the noise, with no reset in between
            // (whatever half frame the noise left buffered), must come through.
            if i % 1000 == 999 {
                decoder.append(buffer)
                while decoder.nextFrame() != nil { decoded += 1 }
                buffer.removeAll(keepingCapacity: true)
                decoder.append(sentinel)
                sentinelsSent += 1
                while let f = decoder.nextFrame() {
                    if f == sentinelFrame { sentinelsSeen += 1 } else { decoded += 1 }
                }
                continue
            }
            if buffer.count > 2048 || r.below(8) == 0 {
                decoder.append(buffer)
                buffer.removeAll(keepingCapacity: true)
                while decoder.nextFrame() != nil { decoded += 1 }
                #expect(decoder.bufferedCount <= decoder.capacity)
            }
        }
        #expect(sentinelsSeen == sentinelsSent)
        // About half of the inputs are valid frames; most must be found despite the noise around them.
        #expect(decoded > 300_000)
        // And the one-shot decoder never traps on random input either.
        for _ in 0..<20_000 {
            var bytes: [UInt8] = [0x68]
            for _ in 0..<r.below(40) { bytes.append(r.byte()) }
            _ = try? CJT188Frame.decode(bytes)
            if let frame = try? CJT188Frame.decode(bytes) {
                _ = try? CJT188CurrentData.decode(frame.data[...])
            }
        }
    }
}
