/// A PN532 host-protocol information frame (UM0701-02, host controller communication): `00 00 FF LEN LCS TFI PD0…PDn DCS 00`
/// with LEN + LCS ≡ 0 and TFI + ΣPD + DCS ≡ 0 (mod 256), or the extended form
/// `00 00 FF FF FF LENM LENL LCS TFI … DCS 00` for more than 254 data bytes.
/// TFI is D4 from the host and D5 from the chip; the chip's application error frame is a normal
/// frame whose only byte is TFI 7F.
public struct PN532Frame: Sendable, Hashable {
    public static let hostToChip: UInt8 = 0xD4
    public static let chipToHost: UInt8 = 0xD5
    public static let errorTFI: UInt8 = 0x7F

    /// The largest LEN (TFI included) of the normal form; longer frames use the extended form.
    public static let maxNormalLength = 255
    /// The largest LEN accepted for an extended frame: hosts send at most 265 (nfcpy's Diagnose
    /// line test, TFI included) and libnfc buffers 264 data bytes; anything longer is noise.
    public static let maxExtendedLength = 266

    public static let ack: [UInt8] = [0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00]
    public static let nack: [UInt8] = [0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00]
    /// What the chip sends for a frame it understood but cannot execute (syntax error, unknown command).
    public static let errorFrame: [UInt8] = [0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00]
    /// HSU wake-up as libnfc and UM0701 send it; nfcpy sends `00` bytes instead.
    public static let wakeUp: [UInt8] = [0x55, 0x55, 0x00, 0x00, 0x00]

    public var tfi: UInt8
    /// The bytes after TFI: the command code (or reply code, command + 1) and its parameters.
    public var payload: [UInt8]

    public init(tfi: UInt8, payload: [UInt8]) {
        self.tfi = tfi
        self.payload = payload
    }

    /// A host command: `D4 code params…`.
    public static func command(_ code: UInt8, _ parameters: [UInt8] = []) -> PN532Frame {
        PN532Frame(tfi: hostToChip, payload: [code] + parameters)
    }

    /// The chip's reply to `command`: `D5 (command+1) data…`.
    public static func reply(to command: UInt8, _ data: [UInt8] = []) -> PN532Frame {
        PN532Frame(tfi: chipToHost, payload: [command &+ 1] + data)
    }

    /// The command or reply code, if there is one.
    public var code: UInt8? { payload.first }
    /// The parameters or reply data after the code.
    public var data: ArraySlice<UInt8> { payload.dropFirst() }

    /// The frame on the wire, with preamble and postamble; extended when TFI + payload exceed 255 bytes.
    public func encoded() -> [UInt8] {
        let length = 1 + payload.count
        var sum = tfi
        for byte in payload { sum &+= byte }
        var bytes: [UInt8] = [0x00, 0x00, 0xFF]
        if length <= Self.maxNormalLength {
            let len = UInt8(length)
            bytes += [len, 0 &- len]
        } else {
            let high = UInt8(truncatingIfNeeded: length >> 8)
            let low = UInt8(truncatingIfNeeded: length)
            bytes += [0xFF, 0xFF, high, low, 0 &- (high &+ low)]
        }
        bytes.append(tfi)
        bytes += payload
        bytes += [0 &- sum, 0x00]
        return bytes
    }
}

/// What the byte stream of a PN532 line carries.
public enum PN532Message: Sendable, Hashable {
    case ack
    case nack
    case frame(PN532Frame)
    /// The chip's application error frame (TFI 7F).
    case applicationError
    /// A frame whose length checked out but whose data checksum did not: the receiver may ask
    /// for it again (NACK).
    case checksumError
}

/// Splits a PN532 byte stream into messages, whatever the chunks it arrives in.
///
/// Wake-up bytes (`55 55 00 00 00 …`, or nfcpy's run of `00`), preambles, postambles and garbage
/// are skipped: a message starts only at a start code `00 FF` whose length checksum holds, so a
/// stray `00 FF` in noise costs one byte and the decoder looks again. The buffer is bounded.
/// `next()` returns nil when more bytes are needed (the swift-nio decoder convention).
public struct PN532StreamDecoder: Sendable {
    private var window: ByteWindow
    private var buffer: [UInt8] { window.bytes }
    private var head: Int { window.head }

    /// Bytes thrown away while resynchronising (wake-up, preamble and postamble fill, garbage,
    /// overflow) and the start codes of frames with a bad data checksum.
    public var discardedBytes: Int { window.discarded }
    public var bufferedCount: Int { window.count }

    public init(capacity: Int = 1024) {
        window = ByteWindow(capacity: max(capacity, PN532Frame.maxExtendedLength + 16))
    }

    public mutating func append(_ bytes: [UInt8]) { window.append(contentsOf: bytes) }
    public mutating func append(_ bytes: ArraySlice<UInt8>) { window.append(contentsOf: bytes) }
    public mutating func reset() { window.reset() }

    public mutating func next() -> PN532Message? {
        while head < buffer.count {
            guard let start = startCode(from: head) else {
                // Keep a trailing 00: it may be the first half of a start code.
                let keep = buffer.last == 0x00 ? 1 : 0
                if buffer.count - head > keep { window.skip(buffer.count - head - keep) }
                return nil
            }
            if start > head { window.skip(start - head) }
            switch candidate() {
            case .needMore:
                return nil
            case .invalid:
                window.skip(1)
            case let .message(message, length):
                if message == .checksumError {
                    // Only the start code goes: if the length byte was noise, a real frame may
                    // begin inside the span it announced.
                    window.skip(2)
                } else {
                    window.consume(length)
                }
                return message
            }
        }
        return nil
    }

    private enum Candidate {
        case message(PN532Message, Int)
        case needMore
        case invalid
    }

    /// The index of the next `00 FF` at or after `offset`, or nil.
    private func startCode(from offset: Int) -> Int? {
        var i = offset
        while i + 1 < buffer.count {
            if buffer[i] == 0x00 && buffer[i + 1] == 0xFF { return i }
            i += 1
        }
        return nil
    }

    /// Checks the message whose start code `00 FF` is at `head`.
    private func candidate() -> Candidate {
        let available = buffer.count - head
        guard available >= 4 else { return .needMore }
        let len = buffer[head + 2], lcs = buffer[head + 3]
        switch (len, lcs) {
        case (0x00, 0xFF): return .message(.ack, 4)
        case (0xFF, 0x00): return .message(.nack, 4)
        case (0xFF, 0xFF):
            guard available >= 7 else { return .needMore }
            let high = buffer[head + 4], low = buffer[head + 5]
            guard high &+ low &+ buffer[head + 6] == 0 else { return .invalid }
            let length = Int(high) << 8 | Int(low)
            guard length >= 1, length <= PN532Frame.maxExtendedLength else { return .invalid }
            return body(at: head + 7, length: length)
        default:
            guard len &+ lcs == 0, len >= 1 else { return .invalid }
            return body(at: head + 4, length: Int(len))
        }
    }

    /// TFI and data of `length` bytes at `offset`, then DCS.
    private func body(at offset: Int, length: Int) -> Candidate {
        guard buffer.count >= offset + length + 1 else { return .needMore }
        var sum: UInt8 = 0
        for byte in buffer[offset...(offset + length)] { sum &+= byte }
        let total = offset + length + 1 - head
        guard sum == 0 else { return .message(.checksumError, total) }
        let tfi = buffer[offset]
        if tfi == PN532Frame.errorTFI && length == 1 { return .message(.applicationError, total) }
        return .message(.frame(PN532Frame(tfi: tfi, payload: Array(buffer[(offset + 1)..<(offset + length)]))), total)
    }
}

/// PN532 command codes (UM0701-02, the command set); a reply's code is the command's plus one.
public enum PN532Command {
    public static let diagnose: UInt8 = 0x00
    public static let getFirmwareVersion: UInt8 = 0x02
    public static let getGeneralStatus: UInt8 = 0x04
    public static let readRegister: UInt8 = 0x06
    public static let writeRegister: UInt8 = 0x08
    public static let readGPIO: UInt8 = 0x0C
    public static let writeGPIO: UInt8 = 0x0E
    public static let setSerialBaudRate: UInt8 = 0x10
    public static let setParameters: UInt8 = 0x12
    public static let samConfiguration: UInt8 = 0x14
    public static let powerDown: UInt8 = 0x16
    public static let rfConfiguration: UInt8 = 0x32
    public static let rfRegulationTest: UInt8 = 0x58
    public static let inJumpForDEP: UInt8 = 0x56
    public static let inJumpForPSL: UInt8 = 0x46
    public static let inListPassiveTarget: UInt8 = 0x4A
    public static let inATR: UInt8 = 0x50
    public static let inPSL: UInt8 = 0x4E
    public static let inDataExchange: UInt8 = 0x40
    public static let inCommunicateThru: UInt8 = 0x42
    public static let inDeselect: UInt8 = 0x44
    public static let inRelease: UInt8 = 0x52
    public static let inSelect: UInt8 = 0x54
    public static let inAutoPoll: UInt8 = 0x60
    public static let tgInitAsTarget: UInt8 = 0x8C
}
