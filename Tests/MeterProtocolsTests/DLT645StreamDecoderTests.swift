import Testing
@testable import MeterProtocols

/// The stream decoder fed the same bytes one at a time, all at once, and with two frames in one buffer.
@Suite struct DLT645StreamDecoderTests {
    static let meter = try! DLT645Address("121078563412")

    static func frames() throws -> [DLT645Frame] {
        [
            DLT645Request.read(.totalActiveEnergy, from: meter),
            DLT645Frame(address: meter, control: DLT645Control(rawValue: 0x91), data: [0, 0, 0, 0, 0xCB, 0xE3, 0x35, 0x01]),
            DLT645Reply.errorReply(to: DLT645Request.read(.date, from: meter), from: meter, error: .noData),
            DLT645Request.readAddress(),
        ]
    }

    /// Feeds `bytes` in chunks of `chunk` and collects the frames.
    static func decode(_ bytes: [UInt8], chunk: Int) -> [DLT645Frame] {
        var decoder = DLT645StreamDecoder()
        var out: [DLT645Frame] = []
        var i = 0
        while i < bytes.count {
            decoder.append(bytes[i..<min(bytes.count, i + chunk)])
            i += chunk
            while let frame = decoder.nextFrame() { out.append(frame) }
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func sameFramesWhateverTheChunking(chunk: Int) throws {
        let frames = try Self.frames()
        var wire: [UInt8] = []
        for (n, frame) in frames.enumerated() { wire += try frame.encoded(preamble: n % 5) }
        #expect(Self.decode(wire, chunk: chunk) == frames)
    }

    @Test func garbageBeforeAFrameIsSkipped() throws {
        let frame = try Self.frames()[1]
        // Noise containing start bytes and a fake header.
        let garbage: [UInt8] = [0x00, 0x68, 0x16, 0xFE, 0x68, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x68, 0x91, 0x02, 0x00]
        #expect(Self.decode(garbage + (try frame.encoded()), chunk: 1) == [frame])
        #expect(Self.decode(garbage + (try frame.encoded()), chunk: 100) == [frame])
    }

    @Test func truncatedFrameWaitsThenYieldsTheNextWhole() throws {
        let frames = try Self.frames()
        let whole = try frames[0].encoded(preamble: 0)
        var decoder = DLT645StreamDecoder()
        decoder.append(whole.prefix(9))
        #expect(decoder.next() == nil)
        decoder.append(whole.dropFirst(9))
        #expect(decoder.nextFrame() == frames[0])
        // A frame cut short, then a complete one: the cut one is reported corrupt, the next decoded.
        let cut = Array((try frames[1].encoded(preamble: 0)).prefix(14))
        decoder.append(cut + (try frames[2].encoded()))
        var got: [DLT645Frame] = []
        var corrupt = 0
        while let item = decoder.next() {
            switch item {
            case let .frame(f): got.append(f)
            case .corrupt: corrupt += 1
            }
        }
        #expect(got == [frames[2]])
        #expect(corrupt >= 1)
    }

    @Test func corruptCandidateNamesItsAddressAndControl() throws {
        var wire = try Self.frames()[1].encoded(preamble: 0)
        wire[wire.count - 2] &+= 1
        var decoder = DLT645StreamDecoder()
        decoder.append(wire)
        guard case let .corrupt(address, control, error) = decoder.next() else {
            Issue.record("expected a corrupt candidate")
            return
        }
        #expect(address == Self.meter.wire && control == 0x91)
        if case .badChecksum = error {} else { Issue.record("expected a checksum error, got \(error)") }
    }

    @Test func bufferStaysBounded() {
        var decoder = DLT645StreamDecoder(capacity: 300)
        for _ in 0..<100 { decoder.append([UInt8](repeating: 0x68, count: 50)) }
        #expect(decoder.bufferedCount <= 300)
        while decoder.next() != nil {}
        #expect(decoder.bufferedCount <= 300)
    }
}
