/// One complete, CRC-checked Modbus RTU frame (ADU): unit address, PDU, CRC low byte first.
public struct ModbusRTUFrame: Sendable, Hashable {
    /// The whole frame as it was on the wire, CRC included.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var unit: UInt8 { bytes[0] }
    /// The function code as sent; an exception reply has bit 7 set.
    public var function: UInt8 { bytes[1] }
    public var isException: Bool { function & 0x80 != 0 }
    /// Function code and data, without the unit address and CRC.
    public var pdu: ArraySlice<UInt8> { bytes[1..<(bytes.count - 2)] }
}

/// Splits a serial byte stream into Modbus RTU frames without relying on timing.
///
/// A real RTU receiver finds frame ends by the 3.5-character silence, but ptys and USB adapters
/// deliver bytes in arbitrary chunks, so this decoder knows the length of every frame from its
/// function code (and byte-count field) and accepts a frame only when its CRC matches. Garbage is
/// dropped one byte at a time until a valid frame lines up again. The caller may still call
/// `reset()` after a silence to void a partial frame, as the standard asks.
///
/// `nextFrame()` returns nil when more bytes are needed (the swift-nio decoder convention).
public struct ModbusRTUFramer: Sendable {
    /// Requests arrive at a server; responses at a client. Their lengths differ per function.
    public enum Direction: Sendable, Hashable {
        case request, response
    }

    /// What the first bytes of a buffer say about the frame that starts there.
    public enum ExpectedLength: Sendable, Hashable {
        /// The frame is this many bytes long, CRC included.
        case bytes(Int)
        /// Not enough bytes yet to know the length.
        case needMore
        /// No valid frame can start here (unknown function, impossible length).
        case invalid
    }

    public let direction: Direction
    /// Bytes kept at most; older bytes are dropped (and counted) beyond this, so garbage cannot
    /// grow the buffer without bound.
    public var capacity: Int { window.capacity }
    private var window: ByteWindow
    private var buffer: [UInt8] { window.bytes }
    private var head: Int { window.head }

    /// Bytes thrown away while resynchronising (garbage, CRC failures, overflow).
    public var discardedBytes: Int { window.discarded }
    /// Candidate frames whose length was plausible but whose CRC did not match.
    public private(set) var crcErrors = 0

    public init(direction: Direction = .request, capacity: Int = 4 * ModbusLimits.maxRTUFrame) {
        self.direction = direction
        window = ByteWindow(capacity: max(capacity, ModbusLimits.maxRTUFrame))
    }

    /// Bytes received but not yet returned as a frame.
    public var bufferedCount: Int { window.count }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        window.append(contentsOf: bytes)
    }

    /// Drops a partial frame, e.g. after a silence longer than 1.5 characters.
    public mutating func reset() {
        window.reset()
    }

    public mutating func nextFrame() -> ModbusRTUFrame? {
        while bufferedCount > 0 {
            switch Self.expectedLength(buffer[head...], direction: direction) {
            case .invalid:
                drop(1)
            case .needMore:
                // A garbage prefix can look like the start of a long frame; if a complete valid
                // frame already sits further on, the prefix was garbage.
                if let start = completeFrameStart(after: head) {
                    drop(start - head)
                    continue
                }
                return nil
            case let .bytes(length):
                if bufferedCount < length {
                    if let start = completeFrameStart(after: head) {
                        drop(start - head)
                        continue
                    }
                    return nil
                }
                let candidate = buffer[head..<(head + length)]
                if ModbusCRC.isValid(candidate) {
                    let frame = ModbusRTUFrame(bytes: Array(candidate))
                    window.consume(length)
                    return frame
                }
                crcErrors += 1
                drop(1)
            }
        }
        return nil
    }

    private mutating func drop(_ count: Int) {
        window.skip(count)
    }

    /// The first offset after `start` where a whole CRC-valid frame is already buffered.
    private func completeFrameStart(after start: Int) -> Int? {
        var offset = start + 1
        while offset < buffer.count {
            if case let .bytes(length) = Self.expectedLength(buffer[offset...], direction: direction),
               buffer.count - offset >= length,
               ModbusCRC.isValid(buffer[offset..<(offset + length)]) {
                return offset
            }
            offset += 1
        }
        return nil
    }

    /// The length of the frame that starts at the beginning of `bytes`.
    public static func expectedLength(_ bytes: some Collection<UInt8>, direction: Direction) -> ExpectedLength {
        var iterator = bytes.makeIterator()
        guard let unit = iterator.next() else { return .needMore }
        // 248–255 are reserved addresses; 0 is broadcast (requests only).
        if unit > 247 || (unit == 0 && direction == .response) { return .invalid }
        guard let function = iterator.next() else { return .needMore }
        // Bytes at fixed positions after the function code, read lazily.
        let rest = Array(bytes.dropFirst(2).prefix(9))
        func byte(_ i: Int) -> Int? { i < rest.count ? Int(rest[i]) : nil }
        let length: ExpectedLength
        switch direction {
        case .request: length = requestLength(function: function, byte: byte)
        case .response: length = responseLength(function: function, bytes: bytes, byte: byte)
        }
        if case let .bytes(n) = length, n > ModbusLimits.maxRTUFrame { return .invalid }
        return length
    }

    private static func requestLength(function: UInt8, byte: (Int) -> Int?) -> ExpectedLength {
        switch function {
        case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08:
            return .bytes(8) // unit fc addr(2) count/value(2) crc(2)
        case 0x07, 0x0B, 0x0C, 0x11:
            return .bytes(4) // unit fc crc(2)
        case 0x0F, 0x10:
            guard let count = byte(4) else { return .needMore }
            return .bytes(9 + count) // unit fc addr(2) qty(2) n data(n) crc(2)
        case 0x16:
            return .bytes(10) // unit fc addr(2) and(2) or(2) crc(2)
        case 0x17:
            guard let count = byte(8) else { return .needMore }
            return .bytes(13 + count)
        case 0x18:
            return .bytes(6)
        case 0x2B:
            guard let mei = byte(0) else { return .needMore }
            // Only Read Device Identification (MEI 0x0E) has a fixed length.
            return mei == 0x0E ? .bytes(7) : .invalid
        default:
            return .invalid
        }
    }

    private static func responseLength(function: UInt8, bytes: some Collection<UInt8>, byte: (Int) -> Int?) -> ExpectedLength {
        if function & 0x80 != 0 {
            return function & 0x7F == 0 ? .invalid : .bytes(5) // unit fc|80 code crc(2)
        }
        switch function {
        case 0x01, 0x02, 0x03, 0x04, 0x0C, 0x11, 0x17:
            guard let count = byte(0) else { return .needMore }
            return .bytes(5 + count) // unit fc n data(n) crc(2)
        case 0x05, 0x06, 0x08, 0x0B, 0x0F, 0x10:
            return .bytes(8)
        case 0x07:
            return .bytes(5)
        case 0x16:
            return .bytes(10)
        case 0x18:
            guard let high = byte(0), let low = byte(1) else { return .needMore }
            return .bytes(6 + (high << 8 | low))
        case 0x2B:
            return deviceIdentificationLength(Array(bytes.prefix(ModbusLimits.maxRTUFrame)))
        default:
            return .invalid
        }
    }

    /// Read Device Identification reply: unit 2B 0E code conformity more next count, then
    /// `count` objects of (id, length, value), then the CRC.
    private static func deviceIdentificationLength(_ bytes: [UInt8]) -> ExpectedLength {
        guard bytes.count >= 8 else { return .needMore }
        guard bytes[2] == 0x0E else { return .invalid }
        var offset = 8
        for _ in 0..<Int(bytes[7]) {
            guard bytes.count >= offset + 2 else { return .needMore }
            offset += 2 + Int(bytes[offset + 1])
            if offset > ModbusLimits.maxRTUFrame { return .invalid }
        }
        return .bytes(offset + 2)
    }
}
