import Testing
@testable import MeterProtocols

/// A million random and mutated frames through the stream decoder: no crash, no hang, and every
/// frame it yields re-encodes to bytes that were in the input, contiguously (the decoder invents
/// no frame and stitches none together from bytes that were apart).
@Suite struct DLT645FuzzTests {
    /// xorshift64*: deterministic, so a failure reproduces.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    }

    /// Whether `needle` occurs as a contiguous run in `haystack`; searched from the end, where a
    /// frame just yielded lies.
    static func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
        var start = haystack.count - needle.count
        while start >= 0 {
            if haystack[start] == needle[0], haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
            start -= 1
        }
        return false
    }

    @Test func occursFindsOnlyContiguousRuns() {
        #expect(Self.occurs([2, 3], in: [1, 2, 3, 4]))
        #expect(!Self.occurs([2, 4], in: [1, 2, 3, 4]))
        #expect(!Self.occurs([3, 4, 5], in: [1, 2, 3, 4]))
    }

    @Test func millionRandomAndMutatedFrames() throws {
        var random = Random(state: 0x9E37_79B9_7F4A_7C15)
        let meter = try DLT645Address("121078563412")
        let seeds: [[UInt8]] = [
            try DLT645Request.read(.totalActiveEnergy, from: meter).encoded(preamble: 0),
            try DLT645Reply.readReply(to: DLT645Request.read(.forwardActiveEnergy, from: meter), from: meter,
                                      payload: [0x67, 0x45, 0x23, 0x01]).encoded(preamble: 0),
            try DLT645Reply.errorReply(to: DLT645Request.read(.date, from: meter), from: meter, error: .noData).encoded(preamble: 0),
        ]
        var decoder = DLT645StreamDecoder()
        // The latest input bytes: more than the decoder can hold, so any frame it yields lies in them.
        var recent: [UInt8] = []
        let keep = 2 * decoder.capacity
        var frames = 0
        var items = 0
        let total = 1_000_000
        var produced = 0
        while produced < total {
            // Batches of frames: 1/3 pristine, 1/3 mutated, 1/3 random bytes.
            var chunk: [UInt8]
            switch random.below(3) {
            case 0:
                chunk = seeds[random.below(seeds.count)]
            case 1:
                chunk = seeds[random.below(seeds.count)]
                for _ in 0..<(1 + random.below(3)) {
                    let i = random.below(chunk.count)
                    switch random.below(3) {
                    case 0: chunk[i] = random.byte()
                    case 1: chunk.remove(at: i)
                    default: chunk.insert(random.byte(), at: i)
                    }
                }
            default:
                chunk = (0..<(1 + random.below(40))).map { _ in random.below(4) == 0 ? 0x68 : random.byte() }
            }
            produced += 1
            // Feed in random pieces.
            var i = 0
            while i < chunk.count {
                let n = 1 + random.below(chunk.count - i)
                decoder.append(chunk[i..<(i + n)])
                recent += chunk[i..<(i + n)]
                if recent.count > 2 * keep { recent.removeFirst(recent.count - keep) }
                i += n
                var steps = 0
                while let item = decoder.next() {
                    items += 1
                    steps += 1
                    if case let .frame(frame) = item {
                        frames += 1
                        // Whatever it yields must survive its own round trip and be bytes of the input.
                        let wire = try frame.encoded(preamble: 0)
                        #expect(try DLT645Frame.decode(wire) == frame)
                        if !Self.occurs(wire, in: recent) {
                            Issue.record("yielded a frame that is not in the input: \(wire)"); return
                        }
                    }
                    // Each item consumes at least one byte, so this bounds the loop.
                    if steps > 2048 { Issue.record("decoder does not make progress"); return }
                }
            }
            if decoder.bufferedCount > decoder.capacity { Issue.record("buffer grew past its capacity"); return }
        }
        #expect(frames > total / 4)
        #expect(items >= frames)
    }
}
