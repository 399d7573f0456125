import MeterProtocols
import Testing

/// Frames captured between pymodbus and mbpoll (PROTOCOLS.md), one per function.
enum CapturedFrames {
    static let readHolding: [UInt8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD]
    static let writeCoil: [UInt8] = [0x01, 0x05, 0x00, 0x02, 0xFF, 0x00, 0x2D, 0xFA]
    static let writeRegister: [UInt8] = [0x01, 0x06, 0x00, 0x03, 0x03, 0x09, 0xB9, 0x3C]
    static let writeMultiple: [UInt8] = [0x01, 0x10, 0x00, 0x0A, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02, 0xA3, 0xD1]
    static let readDeviceID: [UInt8] = [0x01, 0x2B, 0x0E, 0x01, 0x00, 0x70, 0x77]
    static let requests = [readHolding, writeCoil, writeRegister, writeMultiple, readDeviceID]

    static let exceptionReply: [UInt8] = [0x01, 0x83, 0x02, 0xC0, 0xF1]
    static let writeMultipleReply: [UInt8] = [0x01, 0x10, 0x00, 0x0A, 0x00, 0x02, 0x61, 0xCA]
}

func decodeAll(_ bytes: [UInt8], direction: ModbusRTUFramer.Direction = .request, chunk: Int) -> (frames: [[UInt8]], framer: ModbusRTUFramer) {
    var framer = ModbusRTUFramer(direction: direction)
    var frames: [[UInt8]] = []
    var i = 0
    while i < bytes.count {
        framer.append(bytes[i..<min(bytes.count, i + chunk)])
        i += chunk
        while let frame = framer.nextFrame() { frames.append(frame.bytes) }
    }
    return (frames, framer)
}

@Suite struct ModbusRTUFramerTests {
    @Test func capturedRequestsDecodeAllAtOnce() {
        for request in CapturedFrames.requests {
            let (frames, framer) = decodeAll(request, chunk: request.count)
            #expect(frames == [request])
            #expect(framer.bufferedCount == 0)
            #expect(framer.discardedBytes == 0)
        }
    }

    @Test func byteAtATimeMatchesAllAtOnce() {
        let stream = CapturedFrames.requests.flatMap { $0 }
        let whole = decodeAll(stream, chunk: stream.count).frames
        let single = decodeAll(stream, chunk: 1).frames
        let threes = decodeAll(stream, chunk: 3).frames
        #expect(whole == CapturedFrames.requests)
        #expect(single == whole)
        #expect(threes == whole)
    }

    @Test func twoFramesInOneBuffer() {
        let stream = CapturedFrames.readHolding + CapturedFrames.writeMultiple
        var framer = ModbusRTUFramer()
        framer.append(stream)
        #expect(framer.nextFrame()?.bytes == CapturedFrames.readHolding)
        #expect(framer.nextFrame()?.bytes == CapturedFrames.writeMultiple)
        #expect(framer.nextFrame() == nil)
    }

    @Test func garbageBeforeAFrameIsSkipped() {
        let garbage: [UInt8] = [0xFF, 0x00, 0x13, 0x37, 0x01]
        let (frames, framer) = decodeAll(garbage + CapturedFrames.writeRegister, chunk: 1)
        #expect(frames == [CapturedFrames.writeRegister])
        #expect(framer.discardedBytes == garbage.count)
    }

    @Test func garbageThatLooksLikeALongFrameDoesNotHideTheNextOne() {
        // Looks like the start of a write-multiple with 255 data bytes; the real frame follows.
        let fake: [UInt8] = [0x01, 0x10, 0x00, 0x00, 0x00, 0x10, 0xFF]
        let (frames, _) = decodeAll(fake + CapturedFrames.readHolding, chunk: 1)
        #expect(frames == [CapturedFrames.readHolding])
    }

    @Test func truncatedFrameWaitsForTheRest() {
        var framer = ModbusRTUFramer()
        framer.append(CapturedFrames.writeMultiple.prefix(6))
        #expect(framer.nextFrame() == nil)
        #expect(framer.bufferedCount == 6)
        framer.append(CapturedFrames.writeMultiple.dropFirst(6))
        #expect(framer.nextFrame()?.bytes == CapturedFrames.writeMultiple)
    }

    @Test func truncatedFrameCanBeVoidedAfterASilence() {
        var framer = ModbusRTUFramer()
        framer.append(CapturedFrames.readHolding.prefix(5))
        #expect(framer.nextFrame() == nil)
        framer.reset()
        framer.append(CapturedFrames.writeCoil)
        #expect(framer.nextFrame()?.bytes == CapturedFrames.writeCoil)
        #expect(framer.discardedBytes == 5)
    }

    @Test func badCRCIsRejectedAndCounted() {
        var corrupted = CapturedFrames.readHolding
        corrupted[7] ^= 0xFF
        let (frames, framer) = decodeAll(corrupted + CapturedFrames.writeCoil, chunk: 1)
        #expect(frames == [CapturedFrames.writeCoil])
        #expect(framer.crcErrors >= 1)
    }

    @Test func decodesResponses() {
        let readReply = ModbusCRC.appending(to: [0x01, 0x03, 0x04, 0x43, 0x66, 0x80, 0x00])
        let writeCoilEcho = CapturedFrames.writeCoil
        let deviceID = ModbusCRC.appending(to: [0x01, 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x02,
                                                0x00, 0x03, 0x41, 0x42, 0x43, 0x01, 0x02, 0x58, 0x31])
        let stream = CapturedFrames.exceptionReply + readReply + CapturedFrames.writeMultipleReply + writeCoilEcho + deviceID
        for chunk in [1, 2, stream.count] {
            let (frames, framer) = decodeAll(stream, direction: .response, chunk: chunk)
            #expect(frames == [CapturedFrames.exceptionReply, readReply, CapturedFrames.writeMultipleReply, writeCoilEcho, deviceID])
            #expect(framer.discardedBytes == 0)
        }
        var framer = ModbusRTUFramer(direction: .response)
        framer.append(CapturedFrames.exceptionReply)
        let frame = framer.nextFrame()
        #expect(frame?.isException == true)
        #expect(frame.map { Array($0.pdu) } == [0x83, 0x02])
    }

    @Test func expectedLengthsPerFunction() {
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x04], direction: .request) == .bytes(8))
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x10, 0, 0, 0, 2], direction: .request) == .needMore)
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x10, 0, 0, 0, 2, 4], direction: .request) == .bytes(13))
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x0F, 0, 0, 0, 10, 2], direction: .request) == .bytes(11))
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x99], direction: .request) == .invalid)
        #expect(ModbusRTUFramer.expectedLength([0xF8, 0x03], direction: .request) == .invalid)
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x03, 20], direction: .response) == .bytes(25))
        #expect(ModbusRTUFramer.expectedLength([0x01, 0x84, 0x02], direction: .response) == .bytes(5))
    }

    @Test func bufferIsBounded() {
        var framer = ModbusRTUFramer(capacity: 256)
        framer.append([UInt8](repeating: 0x01, count: 1000))
        #expect(framer.bufferedCount <= 256)
        _ = framer.nextFrame()
        framer.append(CapturedFrames.readHolding)
        var found: [UInt8]?
        while let frame = framer.nextFrame() { found = frame.bytes }
        #expect(found == CapturedFrames.readHolding)
    }
}
