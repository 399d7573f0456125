/// A CJ/T 188 data identifier, written high byte first as in the standard (`901F`).
public struct CJT188DataID: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Read current data of a water or gas meter (control 01).
    public static let currentData = Self(rawValue: 0x901F)
    /// Read address (control 03).
    public static let readAddress = Self(rawValue: 0x810A)
    /// Valve control (control 04), DATA `55` open / `99` close.
    public static let valveControl = Self(rawValue: 0xA017)
    /// Write address (control 15).
    public static let writeAddress = Self(rawValue: 0xA018)

    public var high: UInt8 { UInt8(rawValue >> 8) }
    public var low: UInt8 { UInt8(rawValue & 0xFF) }

    /// The two bytes as sent in the given order.
    public func bytes(_ order: CJT188DIOrder) -> [UInt8] {
        order == .highFirst ? [high, low] : [low, high]
    }

    /// True if `first, second` on the wire name this identifier in either order: meters differ,
    /// and a meter asked in one order may answer in the other.
    public func matches(_ first: UInt8, _ second: UInt8) -> Bool {
        (first == high && second == low) || (first == low && second == high)
    }

    public var description: String { Hex.word(rawValue) }
}

/// How the two DI bytes go on the wire. The 2004 text as most read it sends `90 1F` (high
/// first); several real meters want `1F 90`. A profile setting, with the other order as a retry.
public enum CJT188DIOrder: String, Sendable, Hashable, CaseIterable {
    case highFirst = "high_first"
    case lowFirst = "low_first"

    public var other: CJT188DIOrder { self == .highFirst ? .lowFirst : .highFirst }
}

/// Valve command bytes of DI A017.
public enum CJT188ValveAction: UInt8, Sendable, Hashable, CaseIterable {
    case open = 0x55
    case close = 0x99
}

/// Builds the requests a master sends.
public enum CJT188Request {
    /// Read current data (901F): totals, clock, status.
    public static func readCurrentData(meterType: CJT188MeterType, address: CJT188Address,
                                       order: CJT188DIOrder, serial: UInt8) -> CJT188Frame {
        CJT188Frame(meterType: meterType, address: address, control: .readData,
                    data: CJT188DataID.currentData.bytes(order) + [serial])
    }

    /// Read address (810A), sent to the wildcard address: only one meter may be on the line.
    public static func readAddress(meterType: CJT188MeterType = .wildcard, order: CJT188DIOrder, serial: UInt8) -> CJT188Frame {
        CJT188Frame(meterType: meterType, address: .wildcard, control: .readAddress,
                    data: CJT188DataID.readAddress.bytes(order) + [serial])
    }

    /// Valve control (A017): `55` open, `99` close.
    public static func valve(_ action: CJT188ValveAction, meterType: CJT188MeterType, address: CJT188Address,
                             order: CJT188DIOrder, serial: UInt8) -> CJT188Frame {
        CJT188Frame(meterType: meterType, address: address, control: .writeData,
                    data: CJT188DataID.valveControl.bytes(order) + [serial, action.rawValue])
    }
}

/// Checks that a frame answers a request and hands back what follows DI and SER.
public enum CJT188Reply {
    /// The reply's DATA after DI and SER. Throws `.errorReply` for a reply with the error bit,
    /// and a mismatch error for a frame that answers something else: another control code, meter
    /// type (unless asked with the wildcard), address (unless asked with wildcards), data id
    /// (either byte order is fine) or serial number.
    public static func payload(of reply: CJT188Frame, answering request: CJT188Frame,
                               dataID: CJT188DataID) throws(CJT188Error) -> ArraySlice<UInt8> {
        if reply.control == request.control.errorReply {
            // Error replies carry SER and the status word; some meters put DI in front.
            let status = reply.data.count >= 2
                ? CJT188Status(low: reply.data[reply.data.count - 2], high: reply.data[reply.data.count - 1])
                : nil
            throw .errorReply(control: reply.control.rawValue, status: status)
        }
        guard reply.control == request.control.reply else {
            throw .unexpectedControl(expected: request.control.reply.rawValue, received: reply.control.rawValue)
        }
        if request.meterType != .wildcard, reply.meterType != request.meterType {
            throw .meterTypeMismatch(expected: request.meterType.rawValue, received: reply.meterType.rawValue)
        }
        guard request.address.reaches(reply.address) else {
            throw .addressMismatch(expected: request.address.written, received: reply.address.written)
        }
        guard reply.data.count >= 3 else { throw .truncated(need: 3, have: reply.data.count) }
        guard dataID.matches(reply.data[0], reply.data[1]) else {
            throw .unexpectedDataID(expected: dataID.rawValue, received: UInt16(reply.data[0]) << 8 | UInt16(reply.data[1]))
        }
        let sent = request.data.count >= 3 ? request.data[2] : 0
        guard reply.data[2] == sent else { throw .serialMismatch(expected: sent, received: reply.data[2]) }
        return reply.data[3...]
    }

    /// The reply a meter sends: DI (in the order the request used), SER, then `payload`.
    public static func make(answering request: CJT188Frame, meterType: CJT188MeterType, address: CJT188Address,
                            payload: [UInt8]) -> CJT188Frame {
        let head = request.data.count >= 3 ? Array(request.data.prefix(3)) : request.data + [UInt8](repeating: 0, count: 3 - request.data.count)
        return CJT188Frame(meterType: meterType, address: address, control: request.control.reply, data: head + payload)
    }

    /// An error reply: SER and the status word.
    public static func makeError(answering request: CJT188Frame, meterType: CJT188MeterType, address: CJT188Address,
                                 status: CJT188Status) -> CJT188Frame {
        let serial = request.data.count >= 3 ? request.data[2] : 0
        return CJT188Frame(meterType: meterType, address: address, control: request.control.errorReply,
                           data: [serial, status.low, status.high])
    }
}
