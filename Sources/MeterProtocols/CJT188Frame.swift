/// The control byte C of a CJ/T 188 frame: bit 7 set in replies, bit 6 set in error replies,
/// the low six bits name the function.
public struct CJT188Control: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readData = Self(rawValue: 0x01)
    public static let readAddress = Self(rawValue: 0x03)
    public static let writeData = Self(rawValue: 0x04)
    public static let readKeyVersion = Self(rawValue: 0x09)
    public static let writeAddress = Self(rawValue: 0x15)
    public static let writeSyncData = Self(rawValue: 0x16)

    /// Bit 7: the frame comes from a meter.
    public var isReply: Bool { rawValue & 0x80 != 0 }
    /// Bit 6: the meter could not carry out the request.
    public var isError: Bool { rawValue & 0x40 != 0 }
    /// The function without the direction and error bits.
    public var function: UInt8 { rawValue & 0x3F }

    /// The control byte of a good reply to this request (01 → 81).
    public var reply: CJT188Control { Self(rawValue: (rawValue & 0x3F) | 0x80) }
    /// The control byte of an error reply to this request (01 → C1).
    public var errorReply: CJT188Control { Self(rawValue: (rawValue & 0x3F) | 0xC0) }

    public var description: String { "0x" + Hex.byte(rawValue) }
}

/// What can go wrong with a CJ/T 188 frame or its contents. Every case says what was expected.
public enum CJT188Error: Error, Sendable, Hashable, CustomStringConvertible {
    case truncated(need: Int, have: Int)
    case badStart(UInt8)
    case badEnd(UInt8)
    case badChecksum(computed: UInt8, received: UInt8)
    case trailingBytes(Int)
    /// The reply's control byte does not answer the request.
    case unexpectedControl(expected: UInt8, received: UInt8)
    /// The meter answered with the error bit set; `status` is its ST word when it sent one.
    case errorReply(control: UInt8, status: CJT188Status?)
    case addressMismatch(expected: String, received: String)
    case meterTypeMismatch(expected: UInt8, received: UInt8)
    case unexpectedDataID(expected: UInt16, received: UInt16)
    case serialMismatch(expected: UInt8, received: UInt8)
    /// A field holds a nibble above 9.
    case badBCD(field: String)
    case unknownUnit(field: String, code: UInt8)

    public var description: String {
        switch self {
        case let .truncated(need, have): "frame truncated: \(have) of \(need) bytes"
        case let .badStart(b): "frame does not start with 68 (0x" + Hex.byte(b) + ")"
        case let .badEnd(b): "frame does not end with 16 (0x" + Hex.byte(b) + ")"
        case let .badChecksum(computed, received): "checksum 0x" + Hex.byte(received) + ", computed 0x" + Hex.byte(computed)
        case let .trailingBytes(n): "\(n) bytes after the end of the frame"
        case let .unexpectedControl(expected, received): "control 0x" + Hex.byte(received) + " does not answer (expected 0x" + Hex.byte(expected) + ")"
        case let .errorReply(control, status):
            "meter answered with an error (control 0x" + Hex.byte(control) + (status.map { ", status \($0)" } ?? "") + ")"
        case let .addressMismatch(expected, received): "reply from address \(received), expected \(expected)"
        case let .meterTypeMismatch(expected, received): "reply from meter type 0x" + Hex.byte(received) + ", expected 0x" + Hex.byte(expected)
        case let .unexpectedDataID(expected, received): "reply for data id " + Hex.word(received) + ", expected " + Hex.word(expected)
        case let .serialMismatch(expected, received): "reply has serial number \(received), expected \(expected) (a late reply to an earlier request?)"
        case let .badBCD(field): "\(field) is not BCD"
        case let .unknownUnit(field, code): "\(field) has unknown unit code 0x" + Hex.byte(code)
        }
    }
}

/// One CJ/T 188-2004 frame: `68 T A0..A6 C L DATA CS 16`, optionally after `FE` preamble bytes.
/// DATA is sent as is (unlike DL/T 645 there is no +0x33); CS is the sum of every byte from the
/// `68` to the end of DATA, modulo 256.
public struct CJT188Frame: Sendable, Hashable {
    public var meterType: CJT188MeterType
    public var address: CJT188Address
    public var control: CJT188Control
    /// DATA, at most 255 bytes (L is one byte).
    public var data: [UInt8]

    /// `68 T A0..A6 C L` + CS + `16`.
    public static let overhead = 13
    public static let maxData = 255
    public static let maxLength = overhead + maxData
    public static let start: UInt8 = 0x68
    public static let end: UInt8 = 0x16
    public static let preambleByte: UInt8 = 0xFE

    public init(meterType: CJT188MeterType, address: CJT188Address, control: CJT188Control, data: [UInt8]) {
        self.meterType = meterType
        self.address = address
        self.control = control
        self.data = data
    }

    /// Sum modulo 256.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        var sum: UInt8 = 0
        for b in bytes { sum &+= b }
        return sum
    }

    /// The frame on the wire, after `preamble` bytes `FE` (masters usually send 2–4 to wake
    /// the meter's receiver). DATA beyond 255 bytes cannot be framed: a programming error.
    public func encoded(preamble: Int = 0) -> [UInt8] {
        precondition(data.count <= Self.maxData, "CJ/T 188 DATA is at most 255 bytes, got \(data.count)")
        var bytes = [UInt8](repeating: Self.preambleByte, count: max(0, preamble))
        bytes.reserveCapacity(preamble + Self.overhead + data.count)
        let first = bytes.count
        bytes.append(Self.start)
        bytes.append(meterType.rawValue)
        bytes.append(contentsOf: address.wire)
        bytes.append(control.rawValue)
        bytes.append(UInt8(data.count))
        bytes.append(contentsOf: data)
        bytes.append(Self.checksum(bytes[first...]))
        bytes.append(Self.end)
        return bytes
    }

    /// Decodes exactly one frame (leading `FE` bytes allowed, nothing after the `16`).
    public static func decode(_ input: [UInt8]) throws(CJT188Error) -> CJT188Frame {
        var offset = 0
        while offset < input.count, input[offset] == preambleByte { offset += 1 }
        let (frame, length) = try decode(input, at: offset)
        if offset + length != input.count { throw .trailingBytes(input.count - offset - length) }
        return frame
    }

    /// Decodes the frame that starts with `68` at `offset`; returns it and its length.
    static func decode(_ input: [UInt8], at offset: Int) throws(CJT188Error) -> (CJT188Frame, Int) {
        let available = input.count - offset
        guard available >= overhead else { throw .truncated(need: overhead, have: max(0, available)) }
        guard input[offset] == start else { throw .badStart(input[offset]) }
        let length = overhead + Int(input[offset + 10])
        guard available >= length else { throw .truncated(need: length, have: available) }
        let endByte = input[offset + length - 1]
        guard endByte == end else { throw .badEnd(endByte) }
        let computed = checksum(input[offset..<(offset + length - 2)])
        let received = input[offset + length - 2]
        guard computed == received else { throw .badChecksum(computed: computed, received: received) }
        // Addresses are taken as sent: some meters carry hex digits in them, and the reply
        // check compares them byte for byte anyway.
        let address = CJT188Address(uncheckedWire: Array(input[(offset + 2)..<(offset + 9)]))
        let frame = CJT188Frame(meterType: CJT188MeterType(rawValue: input[offset + 1]), address: address,
                                control: CJT188Control(rawValue: input[offset + 9]),
                                data: Array(input[(offset + 11)..<(offset + length - 2)]))
        return (frame, length)
    }
}
