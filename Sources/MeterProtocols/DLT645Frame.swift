/// The control byte: direction, error flag, follow-up flag and function code.
public struct DLT645Control: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    // DL/T 645-2007 function codes (low 5 bits).
    public static let broadcastTime = DLT645Control(rawValue: 0x08)
    public static let read = DLT645Control(rawValue: 0x11)
    public static let readFollowUp = DLT645Control(rawValue: 0x12)
    public static let readAddress = DLT645Control(rawValue: 0x13)
    public static let write = DLT645Control(rawValue: 0x14)
    public static let writeAddress = DLT645Control(rawValue: 0x15)
    public static let freeze = DLT645Control(rawValue: 0x16)
    public static let changeBaud = DLT645Control(rawValue: 0x17)
    public static let changePassword = DLT645Control(rawValue: 0x18)
    public static let relayControl = DLT645Control(rawValue: 0x1C)
    public static let securityAuthentication = DLT645Control(rawValue: 0x03)

    // DL/T 645-1997 function codes.
    public static let read1997 = DLT645Control(rawValue: 0x01)
    public static let readFollowUp1997 = DLT645Control(rawValue: 0x02)
    public static let write1997 = DLT645Control(rawValue: 0x04)
    public static let broadcastTime1997 = DLT645Control(rawValue: 0x08)
    public static let writeAddress1997 = DLT645Control(rawValue: 0x0A)

    /// Bit 7: the frame comes from the meter.
    public var isFromMeter: Bool { rawValue & 0x80 != 0 }
    /// Bit 6: an error reply.
    public var isError: Bool { rawValue & 0x40 != 0 }
    /// Bit 5: more frames follow (read with 0x12 to get them).
    public var hasFollowUp: Bool { rawValue & 0x20 != 0 }
    /// Bits 0–4: the function.
    public var function: UInt8 { rawValue & 0x1F }

    /// The normal reply to this request (0x11 → 0x91), with the follow-up flag if asked.
    public func reply(followUp: Bool = false) -> DLT645Control {
        DLT645Control(rawValue: function | 0x80 | (followUp ? 0x20 : 0))
    }

    /// The error reply to this request (0x11 → 0xD1).
    public var errorReply: DLT645Control { DLT645Control(rawValue: function | 0xC0) }

    public var description: String { Hex.byte(rawValue) }
}

/// One DL/T 645 frame: `68 A0..A5 68 C L DATA CS 16`, with `data` held without the +0x33
/// offset the line carries. Encoding adds the offset, the length, checksum and end; decoding
/// removes them and checks everything.
public struct DLT645Frame: Sendable, Hashable {
    public var address: DLT645Address
    public var control: DLT645Control
    /// The data field as meant (DI0 first for a read), not as sent.
    public var data: [UInt8]

    public static let start: UInt8 = 0x68
    public static let end: UInt8 = 0x16
    public static let preambleByte: UInt8 = 0xFE
    /// Bytes of a frame besides its data: 68, 6 address, 68, C, L, CS, 16.
    public static let overhead = 12

    public init(address: DLT645Address, control: DLT645Control, data: [UInt8] = []) {
        self.address = address
        self.control = control
        self.data = data
    }

    /// Sum of `bytes` modulo 256: the checksum over 68 … DATA.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        var sum: UInt8 = 0
        for b in bytes { sum &+= b }
        return sum
    }

    /// The frame's bytes, after `preamble` wake-up bytes `FE` (masters send 0–4; meters may too).
    public func encoded(preamble: Int = 4) throws(DLT645Error) -> [UInt8] {
        guard data.count <= 255 else { throw .dataTooLong(data.count) }
        var out = [UInt8](repeating: Self.preambleByte, count: max(0, min(preamble, 4)))
        out.reserveCapacity(out.count + Self.overhead + data.count)
        let first = out.count
        out.append(Self.start)
        out += address.wire
        out.append(Self.start)
        out.append(control.rawValue)
        out.append(UInt8(data.count))
        for b in data { out.append(b &+ 0x33) }
        out.append(Self.checksum(out[first...]))
        out.append(Self.end)
        return out
    }

    /// Decodes exactly one frame from `bytes`, leading `FE` bytes allowed.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DLT645Error) -> DLT645Frame {
        let array = Array(bytes)
        var i = 0
        while i < array.count, array[i] == preambleByte { i += 1 }
        let (frame, length) = try decode(array, at: i)
        guard i + length == array.count else { throw .unexpectedReply("\(array.count - i - length) bytes after the frame") }
        return frame
    }

    /// Decodes the frame starting at `offset` (which must hold 68); returns it and its length.
    static func decode(_ b: [UInt8], at offset: Int) throws(DLT645Error) -> (DLT645Frame, Int) {
        let available = b.count - offset
        guard available >= 10 else { throw .truncated(needed: 10, available: max(0, available)) }
        guard b[offset] == start, b[offset + 7] == start else { throw .missingStart }
        let length = Int(b[offset + 9])
        let total = overhead + length
        guard available >= total else { throw .truncated(needed: total, available: available) }
        let csIndex = offset + 10 + length
        let expected = checksum(b[offset..<csIndex])
        guard b[csIndex] == expected else { throw .badChecksum(expected: expected, found: b[csIndex]) }
        guard b[csIndex + 1] == end else { throw .missingEnd(found: b[csIndex + 1]) }
        let address = DLT645Address(uncheckedWire: Array(b[(offset + 1)...(offset + 6)]))
        var data = [UInt8]()
        data.reserveCapacity(length)
        for b in b[(offset + 10)..<csIndex] { data.append(b &- 0x33) }
        return (DLT645Frame(address: address, control: DLT645Control(rawValue: b[offset + 8]), data: data), total)
    }
}
