/// Frames of the prepaid (费控) security extension of DL/T 645-2007 that a gateway forwards without
/// reading them: ESAM security authentication (0x03, identity authentication DI 070000FF) and
/// encrypted relay control (0x1C at password level 98 State Grid / 96 Southern Grid). The data
/// blocks come from the utility's encryption machine, whose keys never reach the gateway; here a
/// block is only checked for shape, framed with a meter's address, and the meter's reply is read
/// (PROTOCOLS.md, DL/T 645).
public enum DLT645Security {
    /// Identity authentication (身份认证): DI, C0–C3 operator, ciphertext 1 (8), random 1 (8),
    /// diversification factor (8); the reply carries random 2 (4) and the ESAM serial (8).
    public static let identityAuthentication = DLT645DataID(0x0700_00FF)
    /// The data identifiers of security authentication all start with DI3 = 07.
    public static let securityDI3: UInt8 = 0x07
    /// Password levels of encrypted control.
    public static let encryptedLevels: [UInt8] = [0x98, 0x96]
    /// Encrypted relay control: PA, P0–P2, C0–C3, 16 bytes ciphertext, 4 bytes MAC (L = 0x1C).
    public static let encryptedRelayLength = 28
    /// DL/T 645-2007 caps the data field of a frame at 200 bytes.
    public static let maxDataLength = 200
    /// The functions forwarded for ESAM meters.
    public static let forwardable: [DLT645Control] = [.securityAuthentication, .relayControl]

    /// Why a block is not one the agent forwards, or nil. Plaintext relay control is not among
    /// them: it goes through the profile's relay settings and their checks.
    public static func problem(control: UInt8, data: [UInt8]) -> String? {
        switch control {
        case DLT645Control.securityAuthentication.rawValue:
            guard data.count >= 4 else {
                return "a 0x03 block starts with its 4-byte data identifier (DI0 first); it has \(data.count) bytes"
            }
            guard data[3] == securityDI3 else {
                return "a 0x03 block carries a security identifier 07xxxxxx (070000FF identity authentication), not \(identifier(data))"
            }
            guard data.count <= maxDataLength else { return "a 0x03 block of \(data.count) bytes is longer than a frame's 200" }
            return nil
        case DLT645Control.relayControl.rawValue:
            guard data.count == encryptedRelayLength else {
                return "an encrypted 0x1C block has 28 bytes (PA, P0–P2, C0–C3, 16 ciphertext, 4 MAC); it has \(data.count)"
            }
            guard encryptedLevels.contains(data[0]) else {
                return "an encrypted 0x1C block has password level 98 or 96, not \(Hex.byte(data[0])) (plaintext relay control is relay.open/close/arm)"
            }
            return nil
        default:
            let allowed = forwardable.map { "0x" + Hex.byte($0.rawValue) }.joined(separator: ", ")
            return "control 0x\(Hex.byte(control)) is not forwarded (forwarded: \(allowed))"
        }
    }

    /// The frame for a checked block, to a meter's full address.
    public static func request(control: UInt8, data: [UInt8], to address: DLT645Address) throws(DLT645Error) -> DLT645Frame {
        guard address.isUnicast else { throw .badAddress("a forwarded frame needs a meter's full address, not \(address)") }
        if let problem = problem(control: control, data: data) { throw .valueOutOfRange(problem) }
        return DLT645Frame(address: address, control: DLT645Control(rawValue: control), data: data)
    }

    /// The meter's answer to a forwarded frame, in one of the forms meters send: 0x83 with the
    /// DI echoed (16 bytes for identity authentication), 0xC3 with the 2-byte SERR; 0x9C with 0–2
    /// bytes, 0xDC with an error byte or a 2-byte error word. Anything else throws.
    public static func reply(_ reply: DLT645Frame, answering request: DLT645Frame) throws(DLT645Error) -> DLT645SecurityReply {
        // As for any reply; `request(control:data:to:)` always names one meter.
        try DLT645Reply.checkAnswers(reply, answering: request)
        let count = reply.data.count
        switch (request.control.function, reply.control.isError) {
        case (DLT645Control.securityAuthentication.function, false):
            guard count >= 4, reply.data.prefix(4).elementsEqual(request.data.prefix(4)) else {
                throw .unexpectedReply("security reply does not echo DI \(identifier(request.data))")
            }
            if request.data.prefix(4).elementsEqual(identityAuthentication.wire), count != 16 {
                throw .unexpectedReply("identity authentication reply of \(count) bytes (DI, random 2, ESAM serial: 16)")
            }
        case (DLT645Control.securityAuthentication.function, true):
            guard (1...2).contains(count) else { throw .unexpectedReply("security error reply of \(count) bytes (SERR: 2)") }
        case (DLT645Control.relayControl.function, false):
            try DLT645Reply.checkRelaySuccess(reply)
        default:
            guard (1...2).contains(count) else { throw .unexpectedReply("relay error reply of \(count) bytes (1 or 2)") }
        }
        return DLT645SecurityReply(control: reply.control, data: reply.data)
    }

    /// `070000FF` from a block's first 4 bytes (DI0 first).
    static func identifier(_ data: [UInt8]) -> String {
        (try? DLT645DataID(wire: data, width: 4))?.description ?? Hex.bytes(data)
    }
}

/// A meter's reply to a forwarded frame: the control byte and the data (without the +0x33), and
/// what they mean in words.
public struct DLT645SecurityReply: Sendable, Hashable, CustomStringConvertible {
    public var control: DLT645Control
    public var data: [UInt8]

    public init(control: DLT645Control, data: [UInt8]) {
        self.control = control
        self.data = data
    }

    public var refused: Bool { control.isError }

    /// The 2-byte error word of the reply, low byte first; nil for the 1-byte form.
    var errorWord: UInt16? { data.count == 2 ? UInt16(data[0]) | UInt16(data[1]) << 8 : nil }

    /// The refusal's error bits in words (`error word 0002: MAC check failed`), nil when accepted.
    public var error: String? {
        guard refused else { return nil }
        switch (control.function, errorWord) {
        case let (DLT645Control.securityAuthentication.function, word?):
            return "SERR \(Hex.word(word)): \(DLT645SecurityErrorWord(rawValue: word))"
        case let (_, word?):
            return "error word \(Hex.word(word)): \(DLT645RelayErrorWord(rawValue: word))"
        default:
            let bits = DLT645ErrorBits(rawValue: data.first ?? 0)
            return "error byte \(Hex.byte(bits.rawValue)): \(bits)"
        }
    }

    public var description: String {
        let what = control.function == DLT645Control.securityAuthentication.function ? "security authentication" : "relay control"
        if let error { return "\(what) refused: \(error)" }
        if control.function == DLT645Control.securityAuthentication.function {
            if data.prefix(4).elementsEqual(DLT645Security.identityAuthentication.wire), data.count == 16 {
                return "identity authentication accepted (random 2 \(Hex.compact(data[4..<8])), ESAM serial \(Hex.compact(data[8...])))"
            }
            return "security authentication DI \(DLT645Security.identifier(data)) accepted"
        }
        return data.isEmpty ? "relay control accepted" : "relay control accepted (status \(Hex.bytes(data)))"
    }
}

/// SERR, the error word of a security-authentication error reply (0xC3, 2 bytes, low byte first),
/// as prepaid meters and master stations read it.
public struct DLT645SecurityErrorWord: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let other = DLT645SecurityErrorWord(rawValue: 0x0001)
    public static let repeatedRecharge = DLT645SecurityErrorWord(rawValue: 0x0002)
    public static let esamVerificationFailed = DLT645SecurityErrorWord(rawValue: 0x0004)
    public static let authenticationFailed = DLT645SecurityErrorWord(rawValue: 0x0008)
    public static let customerMismatch = DLT645SecurityErrorWord(rawValue: 0x0010)
    public static let rechargeCountWrong = DLT645SecurityErrorWord(rawValue: 0x0020)
    public static let overHoardingLimit = DLT645SecurityErrorWord(rawValue: 0x0040)

    static let names: [(DLT645SecurityErrorWord, String)] = [
        (.other, "other error"), (.repeatedRecharge, "repeated recharge"), (.esamVerificationFailed, "ESAM verification failed"),
        (.authenticationFailed, "identity authentication failed"), (.customerMismatch, "customer number mismatch"),
        (.rechargeCountWrong, "recharge count wrong"), (.overHoardingLimit, "purchase over the hoarding limit"),
    ]

    public var description: String { describeBits(rawValue, Self.names.map { ($0.0.rawValue, $0.1) }) }
}

/// The 2-byte error word some meters send in a relay-control error reply (0xDC, L = 2, low byte
/// first); others send the 1-byte error bits (usually 04, unauthorised) whatever the cause.
public struct DLT645RelayErrorWord: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let suspended = DLT645RelayErrorWord(rawValue: 0x0001)
    public static let macFailed = DLT645RelayErrorWord(rawValue: 0x0002)
    public static let passwordWrong = DLT645RelayErrorWord(rawValue: 0x0004)
    public static let authenticationTimeout = DLT645RelayErrorWord(rawValue: 0x0008)
    public static let deadlineInvalid = DLT645RelayErrorWord(rawValue: 0x0010)
    public static let tripRefusedKeepPower = DLT645RelayErrorWord(rawValue: 0x0020)

    static let names: [(DLT645RelayErrorWord, String)] = [
        (.suspended, "meter suspended"), (.macFailed, "MAC check failed"), (.passwordWrong, "password wrong"),
        (.authenticationTimeout, "identity authentication timed out or missing"), (.deadlineInvalid, "command deadline invalid"),
        (.tripRefusedKeepPower, "trip refused while keep-power is on"),
    ]

    public var description: String { describeBits(rawValue, Self.names.map { ($0.0.rawValue, $0.1) }) }
}

/// The names of the bits set in `word`, joined by `, `.
private func describeBits(_ word: UInt16, _ names: [(UInt16, String)]) -> String {
    let parts = names.filter { word & $0.0 != 0 }.map(\.1)
    let unknown = names.reduce(word) { $0 & ~$1.0 }
    if parts.isEmpty { return word == 0 ? "no error bits" : "unknown error bits \(Hex.word(word))" }
    return parts.joined(separator: ", ") + (unknown != 0 ? ", unknown bits \(Hex.word(unknown))" : "")
}
