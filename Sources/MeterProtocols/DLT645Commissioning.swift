/// The communication-rate feature byte Z of DL/T 645-2007 (change rate, 0x17): one bit per rate,
/// bit 1 = 600 … bit 6 = 19200 baud; bits 0 and 7 are reserved. A request sets exactly one bit.
public struct DLT645BaudFeature: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8

    static let table: [(baud: Int, bit: UInt8)] = [(600, 0x02), (1200, 0x04), (2400, 0x08), (4800, 0x10), (9600, 0x20), (19200, 0x40)]

    /// The rates the feature byte can name.
    public static var rates: [Int] { table.map(\.baud) }

    public init(baud: Int) throws(DLT645Error) {
        guard let bit = Self.table.first(where: { $0.baud == baud })?.bit else {
            throw .valueOutOfRange("\(baud) baud is not a DL/T 645 rate (600, 1200, 2400, 4800, 9600, 19200)")
        }
        rawValue = bit
    }

    /// From a received byte: exactly one rate bit.
    public init(rawValue: UInt8) throws(DLT645Error) {
        guard Self.table.contains(where: { $0.bit == rawValue }) else {
            throw .valueOutOfRange("feature byte \(Hex.byte(rawValue)) names no single rate")
        }
        self.rawValue = rawValue
    }

    public var baud: Int { Self.table.first { $0.bit == rawValue }?.baud ?? 0 }

    public var description: String { "\(baud) baud (\(Hex.byte(rawValue)))" }
}

extension DLT645Request {
    /// Write communication address (0x15): sent to AA…AA, so it reaches whichever meter is on the
    /// line — the line must hold only the meter being commissioned. Real meters also want their
    /// programming key pressed.
    public static func writeAddress(_ address: DLT645Address) throws(DLT645Error) -> DLT645Frame {
        guard address.isUnicast else { throw .badAddress("a meter's new address must be 12 digits, not \(address)") }
        return DLT645Frame(address: .wildcard, control: .writeAddress, data: address.wire)
    }

    /// Change communication rate (0x17) of the meter at `address`; it answers at the old rate,
    /// then listens at the new one.
    public static func changeBaud(_ feature: DLT645BaudFeature, of address: DLT645Address) throws(DLT645Error) -> DLT645Frame {
        guard address.isUnicast else { throw .badAddress("a rate change needs the meter's full address, not \(address)") }
        return DLT645Frame(address: address, control: .changeBaud, data: [feature.rawValue])
    }
}

extension DLT645Reply {
    /// The reply to a write address: 0x95 with no data, sent from the new address; an error
    /// reply (0xD5) throws `.errorReply` with its bits.
    public static func writeAddress(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) {
        guard reply.control.isFromMeter, reply.control.function == DLT645Control.writeAddress.function else {
            throw .unexpectedReply("control \(reply.control) does not answer \(request.control)")
        }
        if reply.control.isError { throw .errorReply(control: reply.control.rawValue, error: DLT645ErrorBits(rawValue: reply.data.first ?? 0)) }
        guard reply.address.wire == request.data else {
            throw .unexpectedReply("reply from \(reply.address), the new address is \((try? DLT645Address(wire: request.data))?.written ?? "?")")
        }
        guard reply.data.isEmpty else { throw .unexpectedReply("write-address reply with \(reply.data.count) data bytes") }
    }

    /// The reply to a rate change: 0x97 echoing the feature byte; 0xD7 (error bit 3: the rate
    /// cannot change) throws `.errorReply`.
    public static func changeBaud(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) -> DLT645BaudFeature {
        try check(reply, answering: request)
        guard reply.data.count == 1 else { throw .unexpectedReply("rate-change reply with \(reply.data.count) data bytes") }
        let feature = try DLT645BaudFeature(rawValue: reply.data[0])
        guard request.data == reply.data else { throw .unexpectedReply("meter confirmed \(feature), asked \(Hex.bytes(request.data))") }
        return feature
    }
}
