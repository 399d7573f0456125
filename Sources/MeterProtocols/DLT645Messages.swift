/// A data identifier: 4 bytes in DL/T 645-2007 (written DI3 DI2 DI1 DI0, sent DI0 first),
/// 2 bytes in DL/T 645-1997 (written `9010`, sent `10 90`).
public struct DLT645DataID: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt32
    /// 4 or 2.
    public var width: Int

    public init(_ value: UInt32, width: Int = 4) {
        self.value = value
        self.width = width == 2 ? 2 : 4
    }

    /// DL/T 645-1997 identifier.
    public static func v1997(_ value: UInt16) -> DLT645DataID { DLT645DataID(UInt32(value), width: 2) }

    public var wire: [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    public init(wire bytes: some Collection<UInt8>, width: Int) throws(DLT645Error) {
        let a = Array(bytes.prefix(width))
        guard a.count == width else { throw .truncated(needed: width, available: a.count) }
        var v: UInt32 = 0
        for b in a.reversed() { v = v << 8 | UInt32(b) }
        self.init(v, width: width)
    }

    /// `00010000`, `9010`.
    public var description: String {
        (0..<width).reversed().map { Hex.byte(UInt8(truncatingIfNeeded: value >> (8 * $0))) }.joined()
    }

    /// `FF` in a DI byte asks for a block of items.
    public var isBlock: Bool { wire.contains(0xFF) }

    // Identifiers the driver itself uses.
    public static let totalActiveEnergy = DLT645DataID(0x0000_0000)
    public static let forwardActiveEnergy = DLT645DataID(0x0001_0000)
    public static let reverseActiveEnergy = DLT645DataID(0x0002_0000)
    public static let date = DLT645DataID(0x0400_0101)
    public static let time = DLT645DataID(0x0400_0102)
    public static let statusWord3 = DLT645DataID(0x0400_0503)
    public static let statusWords = DLT645DataID(0x0400_05FF)
    // Identifiers the simulator serves (profiles read them by DI).
    /// Status word 1: batteries, power directions.
    public static let statusWord1 = DLT645DataID(0x0400_0501)
    /// Total number of meter cover openings (开表盖总次数), 3 bytes BCD.
    public static let coverOpenCount = DLT645DataID(0x0330_0D00)
}

/// Requests a master sends.
public enum DLT645Request {
    /// Read one data item (0x11).
    public static func read(_ di: DLT645DataID, from address: DLT645Address) -> DLT645Frame {
        DLT645Frame(address: address, control: .read, data: di.wire)
    }

    /// Read the next frame of a multi-frame reply (0x12): DI and the frame sequence number.
    public static func readFollowUp(_ di: DLT645DataID, sequence: UInt8, from address: DLT645Address) -> DLT645Frame {
        DLT645Frame(address: address, control: .readFollowUp, data: di.wire + [sequence])
    }

    /// Ask whichever meter is on the line for its address (0x13 to AA…AA).
    public static func readAddress() -> DLT645Frame {
        DLT645Frame(address: .wildcard, control: .readAddress)
    }

    /// Broadcast time (0x08 to 99…99): no meter answers.
    public static func broadcastTime(_ time: MeterDateTime) -> DLT645Frame {
        DLT645Frame(address: .broadcast, control: .broadcastTime, data: time.wireSecondsFirst)
    }

    /// DL/T 645-1997 read (0x01) with a 2-byte identifier.
    public static func read1997(_ di: DLT645DataID, from address: DLT645Address) -> DLT645Frame {
        DLT645Frame(address: address, control: .read1997, data: DLT645DataID(di.value, width: 2).wire)
    }

    /// Relay control (0x1C); only to a full address.
    public static func relayControl(_ command: DLT645RelayCommand, to address: DLT645Address) throws(DLT645Error) -> DLT645Frame {
        guard address.isUnicast else { throw .badAddress("relay control needs a meter's full address, not \(address)") }
        return DLT645Frame(address: address, control: .relayControl, data: command.data)
    }
}

/// What a meter's reply to a read holds.
public struct DLT645ReadReply: Sendable, Hashable {
    public var di: DLT645DataID
    /// The item's bytes after the DI (without the 0x33 offset).
    public var payload: [UInt8]
    /// More frames follow: read them with 0x12.
    public var hasFollowUp: Bool
}

/// Checks replies against the request they answer.
public enum DLT645Reply {
    /// The reply to a read (2007 0x11/0x12 or 1997 0x01): the DI must be echoed. An error reply
    /// throws `.errorReply` with its error bits.
    public static func read(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) -> DLT645ReadReply {
        try check(reply, answering: request)
        let width = request.control.function == DLT645Control.read1997.function ? 2 : 4
        let di = try DLT645DataID(wire: request.data, width: width)
        guard reply.data.count >= width else { throw .unexpectedReply("reply of \(reply.data.count) bytes has no data identifier") }
        let echoed = try DLT645DataID(wire: reply.data, width: width)
        guard echoed == di else { throw .unexpectedReply("reply for DI \(echoed), asked \(di)") }
        var payload = Array(reply.data.dropFirst(width))
        // A follow-up frame (0x12 reply) ends with its sequence number.
        if request.control.function == DLT645Control.readFollowUp.function, !payload.isEmpty { payload.removeLast() }
        return DLT645ReadReply(di: di, payload: payload, hasFollowUp: reply.control.hasFollowUp)
    }

    /// The meter's address from its reply to 0x13.
    public static func address(_ reply: DLT645Frame) throws(DLT645Error) -> DLT645Address {
        guard reply.control.isFromMeter, reply.control.function == DLT645Control.readAddress.function else {
            throw .unexpectedReply("control \(reply.control) to a read-address request")
        }
        if reply.control.isError { throw .errorReply(control: reply.control.rawValue, error: DLT645ErrorBits(rawValue: reply.data.first ?? 0)) }
        guard reply.data.count >= 6 else { throw .truncated(needed: 6, available: reply.data.count) }
        return try DLT645Address(wire: reply.data.prefix(6))
    }

    /// A relay-control reply: success is 0x9C with 0–2 bytes (some meters add a status word);
    /// failure 0xDC with the error byte (or a 2-byte error word).
    public static func relay(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) {
        try check(reply, answering: request)
        try checkRelaySuccess(reply)
    }

    /// Direction, function, address and error flag.
    static func check(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) {
        try checkAnswers(reply, answering: request)
        if reply.control.isError {
            // 0x1C errors may carry a 2-byte error word; the low byte holds the classic bits.
            throw .errorReply(control: reply.control.rawValue, error: DLT645ErrorBits(rawValue: reply.data.first ?? 0))
        }
    }

    /// Direction, function and address: whether `reply`, accepting or refusing, answers `request`.
    static func checkAnswers(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) {
        guard reply.control.isFromMeter else { throw .unexpectedReply("frame from a master, not a meter") }
        guard reply.control.function == request.control.function else {
            throw .unexpectedReply("control \(reply.control) does not answer \(request.control)")
        }
        if request.address.isUnicast, reply.address != request.address {
            throw .unexpectedReply("reply from \(reply.address), asked \(request.address)")
        }
    }

    /// The data of a relay control's success reply (0x9C): none, or a status word.
    static func checkRelaySuccess(_ reply: DLT645Frame) throws(DLT645Error) {
        guard reply.data.count <= 2 else { throw .unexpectedReply("relay reply with \(reply.data.count) data bytes") }
    }

    // MARK: - Building replies (simulators)

    public static func readReply(to request: DLT645Frame, from meter: DLT645Address, payload: [UInt8],
                                 followUp: Bool = false, sequence: UInt8? = nil) -> DLT645Frame {
        let width = request.control.function == DLT645Control.read1997.function ? 2 : 4
        var data = Array(request.data.prefix(width)) + payload
        if let sequence { data.append(sequence) }
        return DLT645Frame(address: meter, control: request.control.reply(followUp: followUp), data: data)
    }

    public static func errorReply(to request: DLT645Frame, from meter: DLT645Address, error: DLT645ErrorBits) -> DLT645Frame {
        DLT645Frame(address: meter, control: request.control.errorReply, data: [error.rawValue])
    }

    public static func okReply(to request: DLT645Frame, from meter: DLT645Address, data: [UInt8] = []) -> DLT645Frame {
        DLT645Frame(address: meter, control: request.control.reply(), data: data)
    }
}
