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
