import MeterProtocols

/// The simulated ESAM's keyed scheme, written once for both ends: the meter (`SimulatedESAM`) and
/// the utility's encryption machine that tests stand in for (`authenticationData`,
/// `relayControlData`; `Tests/Interop/esam_headend.py` is the same in Python). Real ESAMs use SM1/SM4
/// with keys diversified per meter; the agent never reads the blocks, so any scheme that ties a
/// control frame to the key, the session and its own bytes exercises the agent the same way.
///
/// With H(label, parts) = HMAC-SHA256(key, ASCII label ‖ parts), truncated:
/// - identity authentication (0x03), data: DI 070000FF (FF 00 00 07), C0–C3, ciphertext 1 =
///   H("auth", R1 ‖ factor)[0..<8], random 1 R1 (8), diversification factor = 00 00 ‖ the
///   meter's address in wire order (8). The meter answers DI, random 2 (4), ESAM serial (8).
/// - encrypted relay control (0x1C), data: PA (98/96), P0–P2, C0–C3, ciphertext =
///   (N1 00 N3…N8 ‖ 80 00 00 00 00 00 00 00) XOR H("encrypt", R1)[0..<16], MAC =
///   H("mac", R1 ‖ PA…C3 ‖ ciphertext)[0..<4], where R1 is the random 1 of the authentication
///   that opened the session. The head-end can therefore make both frames at once.
public struct ESAMKeyedScheme: Sendable, Hashable {
    public var key: [UInt8]

    public init(key: [UInt8]) { self.key = key }

    /// The length of an identity authentication's data (above).
    public static let authenticationLength = 32
    /// N1 N2 N3–N8 of the plaintext command, then ISO/IEC 9797-1 padding method 2.
    static let padding: [UInt8] = [0x80, 0, 0, 0, 0, 0, 0, 0]

    func h(_ label: String, _ parts: [UInt8]...) -> [UInt8] {
        SHA256.hmac(key: key, Array(label.utf8) + parts.flatMap { $0 })
    }

    /// The diversification factor that names the meter: 00 00 and its address in wire order.
    public static func factor(for meter: DLT645Address) -> [UInt8] { [0, 0] + meter.wire }

    func ciphertext1(random1: [UInt8], factor: [UInt8]) -> [UInt8] { Array(h("auth", random1, factor).prefix(8)) }

    func keystream(random1: [UInt8]) -> [UInt8] { Array(h("encrypt", random1).prefix(16)) }

    func mac(random1: [UInt8], header: [UInt8], ciphertext: [UInt8]) -> [UInt8] { Array(h("mac", random1, header, ciphertext).prefix(4)) }

    // MARK: - The encryption machine's side (tests)

    /// The data of an identity authentication (0x03) for `meter`, opening a session keyed by `random1`.
    public func authenticationData(random1: [UInt8], meter: DLT645Address, operatorCode: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        let factor = Self.factor(for: meter)
        let head = DLT645Security.identityAuthentication.wire + Array(operatorCode.prefix(4))
        return head + ciphertext1(random1: random1, factor: factor) + random1 + factor
    }

    /// The data of an encrypted relay control (0x1C) for the session of `random1`. `password` and
    /// `operatorCode` in wire order, as in `DLT645RelayCommand`.
    public func relayControlData(random1: [UInt8], action: UInt8, deadline: MeterDateTime, passwordLevel: UInt8 = 0x96,
                                 password: [UInt8] = [0, 0, 0], operatorCode: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        let command = DLT645RelayCommand(passwordLevel: passwordLevel, password: password, operatorCode: operatorCode,
                                         action: action, deadline: deadline).data
        let header = Array(command[..<8]), plaintext = Array(command[8...]) + Self.padding
        let ciphertext = zip(plaintext, keystream(random1: random1)).map { $0 ^ $1 }
        return header + ciphertext + mac(random1: random1, header: header, ciphertext: ciphertext)
    }
}
