/// Character framing of a serial line, for computing time on the wire.
public struct SerialFraming: Sendable, Hashable {
    public var baud: Int
    public var dataBits: Int
    public var parityBit: Bool
    public var stopBits: Int

    public init(baud: Int, dataBits: Int = 8, parityBit: Bool = false, stopBits: Int = 1) {
        self.baud = baud
        self.dataBits = dataBits
        self.parityBit = parityBit
        self.stopBits = stopBits
    }

    public var bitsPerCharacter: Int { 1 + dataBits + (parityBit ? 1 : 0) + stopBits }

    /// Seconds to send `bytes` characters back to back.
    public func seconds(forBytes bytes: Int) -> Double {
        Double(bytes * bitsPerCharacter) / Double(baud)
    }

    /// The 1.5-character gap that voids a frame if it occurs inside one; fixed at 750 µs above
    /// 19200 baud (Modbus over serial line V1.02 §2.5.1.1).
    public var interCharacterTimeout: Double {
        baud > 19200 ? 0.00075 : 1.5 * Double(bitsPerCharacter) / Double(baud)
    }

    /// The 3.5-character silence that ends an RTU frame; fixed at 1.75 ms above 19200 baud
    /// (Modbus over serial line V1.02 §2.5.1.1).
    public var interFrameSilence: Double {
        baud > 19200 ? 0.00175 : 3.5 * Double(bitsPerCharacter) / Double(baud)
    }
}

/// Bytes a read costs on the wire, request plus response.
public enum ModbusWireCost {
    /// RTU: unit, function, address(2), count(2), CRC(2) out; unit, function, byte count, data, CRC back.
    public static func rtuBytes(_ read: PlannedRead) -> (request: Int, response: Int) {
        (8, 5 + dataBytes(read))
    }

    /// TCP: 7-byte MBAP header, then the PDU, both ways.
    public static func tcpBytes(_ read: PlannedRead) -> (request: Int, response: Int) {
        (12, 9 + dataBytes(read))
    }

    public static func dataBytes(_ read: PlannedRead) -> Int {
        read.table.isBitTable ? (read.count + 7) / 8 : read.count * 2
    }

    /// Least time one RTU transaction holds the line: both frames plus the silence after each.
    public static func rtuSeconds(_ read: PlannedRead, framing: SerialFraming) -> Double {
        let bytes = rtuBytes(read)
        return framing.seconds(forBytes: bytes.request + bytes.response) + 2 * framing.interFrameSilence
    }
}

/// Modbus RTU CRC-16: polynomial 0xA001 (reflected 0x8005), initial 0xFFFF, sent low byte first.
public enum ModbusCRC {
    public static func compute(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1
            }
        }
        return crc
    }

    /// `bytes` with the CRC appended, low byte first.
    public static func appending(to bytes: [UInt8]) -> [UInt8] {
        let crc = compute(bytes)
        return bytes + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }

    /// True when the last two bytes are the CRC of the rest.
    public static func isValid(_ frame: some Collection<UInt8>) -> Bool {
        guard frame.count >= 3 else { return false }
        let body = frame.dropLast(2)
        let crc = compute(body)
        let tail = Array(frame.suffix(2))
        return tail[0] == UInt8(crc & 0xFF) && tail[1] == UInt8(crc >> 8)
    }
}
