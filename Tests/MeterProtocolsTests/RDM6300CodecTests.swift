import Testing
@testable import MeterProtocols

/// RDM6300 frames: vectors, and the stream decoder fed one byte at a time, in odd chunks and all at
/// once (after swift-nio's ByteToMessageDecoderVerifier), with garbage and broken frames around.
@Suite struct RDM6300CodecTests {
    /// The example of PROTOCOLS.md: 0F ^ 00 ^ 27 ^ 1D ^ A5 = 90 (by hand: 0F^27 = 28, ^1D = 35,
    /// ^A5 = 90), and Python agrees:
    /// `b=bytes.fromhex('0F00271DA5'); functools.reduce(operator.xor, b)` → 0x90.
    static let example: [UInt8] = [0x02] + Array("0F00271DA5".utf8) + Array("90".utf8) + [0x03]
    static let exampleTag = EM4100Tag(bytes: [0x0F, 0x00, 0x27, 0x1D, 0xA5])!

    /// Frames computed with Python (`'%02X' % reduce(xor, bytes.fromhex(tag))`), not with our codec.
    static let vectors: [(tag: [UInt8], frame: String)] = [
        ([0x1A, 0x2B, 0x3C, 0x4D, 0x5E], "0231413242334334443545314503"),
        ([0x00, 0x00, 0x00, 0x00, 0x00], "0230303030303030303030303003"),
        ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "0246464646464646464646464603"),
        ([0x62, 0xE3, 0x08, 0x6C, 0xED], "0236324533303836434544303803"),
    ]

    static let other = EM4100Tag(bytes: [0x1A, 0x2B, 0x3C, 0x4D, 0x5E])!

    static func decodeAll(_ input: [UInt8], chunk: Int) -> (tags: [EM4100Tag], decoder: RDM6300StreamDecoder) {
        var decoder = RDM6300StreamDecoder()
        var tags: [EM4100Tag] = []
        var offset = 0
        let step = chunk == 0 ? max(1, input.count) : chunk
        while offset < input.count {
            decoder.append(input[offset..<min(input.count, offset + step)])
            while let tag = decoder.nextTag() { tags.append(tag) }
            offset += step
        }
        return (tags, decoder)
    }

    /// Every way of feeding must yield `expected`.
    static func verify(_ input: [UInt8], yields expected: [EM4100Tag], sourceLocation: SourceLocation = #_sourceLocation) {
        for chunk in [1, 2, 3, 5, 13, 14, 0] {
            let (tags, _) = decodeAll(input, chunk: chunk)
            #expect(tags == expected, "chunk \(chunk)", sourceLocation: sourceLocation)
        }
    }

    @Test func theExampleOfTheProtocolNotes() {
        #expect(RDM6300Frame.checksum(Self.exampleTag.bytes) == 0x90)
        #expect(RDM6300Frame.encode(Self.exampleTag) == Self.example)
        #expect(RDM6300Frame.encode(Self.exampleTag).count == RDM6300Frame.length)
        Self.verify(Self.example, yields: [Self.exampleTag])
        #expect(Self.exampleTag.tagNumber == 0x0027_1DA5)
    }

    @Test func vectorsComputedElsewhere() {
        for (bytes, frame) in Self.vectors {
            let tag = EM4100Tag(bytes: bytes)!
            #expect(Hex.compact(RDM6300Frame.encode(tag)) == frame)
            Self.verify(Hex.parse(frame)!, yields: [tag])
        }
    }

    @Test func onlyFiveByteTags() {
        #expect(EM4100Tag(bytes: [1, 2, 3, 4]) == nil)
        #expect(EM4100Tag(bytes: [1, 2, 3, 4, 5, 6]) == nil)
    }

    @Test func lowerCaseDigitsAreAccepted() {
        let frame: [UInt8] = [0x02] + Array("0f00271da590".utf8) + [0x03]
        Self.verify(frame, yields: [Self.exampleTag])
    }

    @Test func repeatedFramesAreEachReported() {
        // A module repeats the frame while the tag stays: debouncing is the driver's job.
        Self.verify(Self.example + Self.example + RDM6300Frame.encode(Self.other),
                    yields: [Self.exampleTag, Self.exampleTag, Self.other])
    }

    @Test func garbageBeforeAFrameIsSkipped() {
        // Includes STX and ETX bytes and hex digits, as a module powering up sends.
        let garbage: [UInt8] = [0x00, 0xFF, 0x03, 0x02, 0x30, 0x31, 0x02, 0x41, 0x03, 0x7E, 0x02, 0x02]
        Self.verify(garbage + Self.example, yields: [Self.exampleTag])
        let (_, decoder) = Self.decodeAll(garbage + Self.example, chunk: 0)
        #expect(decoder.discardedBytes == garbage.count)
        #expect(decoder.bufferedCount == 0)
    }

    @Test func garbageThatLooksLikeAFrameStartDoesNotSwallowTheNext() {
        // STX and 12 hex digits, then the real frame: the garbage candidate's last place holds
        // the real STX, not an ETX.
        let fake: [UInt8] = [0x02] + Array("0F00271DA590".utf8)
        Self.verify(fake + RDM6300Frame.encode(Self.other), yields: [Self.other])
        // STX and fewer digits, then a frame.
        Self.verify([0x02, 0x30, 0x46] + Self.example, yields: [Self.exampleTag])
    }

    @Test func badChecksumIsCountedAndSkipped() {
        var bad = Self.example
        bad[12] = UInt8(ascii: "1")
        Self.verify(bad + RDM6300Frame.encode(Self.other), yields: [Self.other])
        let (_, decoder) = Self.decodeAll(bad + RDM6300Frame.encode(Self.other), chunk: 1)
        #expect(decoder.checksumErrors == 1)
    }

    @Test func badHexIsSkipped() {
        var bad = Self.example
        bad[4] = UInt8(ascii: "G")
        Self.verify(bad + Self.example, yields: [Self.exampleTag])
        let (_, decoder) = Self.decodeAll(bad + Self.example, chunk: 0)
        #expect(decoder.malformedFrames == 1)
    }

    @Test func missingETXIsSkipped() {
        // The frame ends without its 03; the next frame starts in the place the 03 belonged.
        let cut = Array(Self.example.dropLast())
        Self.verify(cut + RDM6300Frame.encode(Self.other), yields: [Self.other])
        // A wrong byte in the ETX place.
        var wrong = Self.example
        wrong[13] = 0x0D
        Self.verify(wrong + Self.example, yields: [Self.exampleTag])
    }

    @Test func truncatedFrameThenAGoodOne() {
        let truncated = Array(Self.example.prefix(7))
        Self.verify(truncated + RDM6300Frame.encode(Self.other), yields: [Self.other])
        // Alone, a truncated frame waits for more.
        let (tags, decoder) = Self.decodeAll(truncated, chunk: 1)
        #expect(tags.isEmpty)
        #expect(decoder.bufferedCount == truncated.count)
    }

    @Test func framesSplitAcrossReads() {
        // Two frames cut at every possible place into two reads.
        let input = Self.example + RDM6300Frame.encode(Self.other)
        for cut in 1..<input.count {
            var decoder = RDM6300StreamDecoder()
            var tags: [EM4100Tag] = []
            decoder.append(Array(input[..<cut]))
            while let tag = decoder.nextTag() { tags.append(tag) }
            decoder.append(Array(input[cut...]))
            while let tag = decoder.nextTag() { tags.append(tag) }
            #expect(tags == [Self.exampleTag, Self.other], "cut at \(cut)")
        }
    }

    @Test func noiseNeverMakesATagAndTheBufferStaysBounded() {
        // Random bytes: a false tag needs STX, 12 digits, ETX and a matching checksum by chance.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var decoder = RDM6300StreamDecoder()
        var tags = 0
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            decoder.append(UInt8(truncatingIfNeeded: state >> 56))
            while decoder.nextTag() != nil { tags += 1 }
            #expect(decoder.bufferedCount <= RDM6300Frame.length)
        }
        #expect(tags == 0)
        decoder.append(Self.example)
        let after = decoder.nextTag()
        #expect(after == Self.exampleTag)
    }

    @Test func resetDropsAPartialFrame() {
        var decoder = RDM6300StreamDecoder()
        decoder.append(Array(Self.example.prefix(9)))
        let partial = decoder.nextTag()
        decoder.reset()
        decoder.append(Array(Self.example.suffix(5)))
        let tail = decoder.nextTag()
        decoder.append(Self.example)
        let whole = decoder.nextTag()
        #expect(partial == nil)
        #expect(tail == nil)
        #expect(whole == Self.exampleTag)
    }
}
