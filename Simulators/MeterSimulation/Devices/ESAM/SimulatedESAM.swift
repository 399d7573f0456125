import MeterProtocols
import Synchronization

/// A meter's ESAM as a scenario configures it: `esam: {key: "<32 hex digits>", session_s: 300}`.
public struct ESAMSettings: Sendable, Hashable {
    public var key: [UInt8]
    /// How long an identity authentication allows encrypted commands (身份认证时效).
    public var sessionSeconds: Double

    public init(key: [UInt8], sessionSeconds: Double = 300) {
        self.key = key
        self.sessionSeconds = sessionSeconds
    }
}

/// The security module of a simulated prepaid meter: checks identity authentications and the
/// encrypted relay commands of the session they open, with `ESAMKeyedScheme`. Like a real ESAM
/// it drops the session when an authentication or a MAC fails, and when it expires. Time comes
/// from the caller (`at t`), so tests move a manual clock instead of sleeping.
public final class SimulatedESAM: Sendable {
    public let settings: ESAMSettings
    let scheme: ESAMKeyedScheme
    private let state = Mutex(State())

    private struct State {
        /// The random 1 of the authentication that opened the session, and when.
        var session: (random1: [UInt8], openedAt: Double)?
        /// Moves random 2 on with every authentication.
        var counter: UInt32 = 0
    }

    public init(settings: ESAMSettings) {
        self.settings = settings
        scheme = ESAMKeyedScheme(key: settings.key)
    }

    /// The reply data of an identity authentication (DI, random 2, ESAM serial), or SERR.
    public func authenticate(_ data: [UInt8], meter: DLT645Address, at t: Double) -> Result<[UInt8], SecurityRefusal> {
        let refused = { (word: DLT645SecurityErrorWord) -> Result<[UInt8], SecurityRefusal> in
            self.state.withLock { $0.session = nil }
            return .failure(SecurityRefusal(word: word.rawValue))
        }
        guard data.count == ESAMKeyedScheme.authenticationLength,
              data.prefix(4).elementsEqual(DLT645Security.identityAuthentication.wire) else { return refused(.other) }
        let ciphertext1 = Array(data[8..<16]), random1 = Array(data[16..<24]), factor = Array(data[24..<32])
        guard factor == ESAMKeyedScheme.factor(for: meter),
              ciphertext1 == scheme.ciphertext1(random1: random1, factor: factor) else { return refused(.authenticationFailed) }
        let counter = state.withLock { s -> UInt32 in
            s.session = (random1, t)
            s.counter &+= 1
            return s.counter
        }
        let random2 = Array(scheme.h("random2", random1, [UInt8(counter >> 24), UInt8(counter >> 16 & 0xFF), UInt8(counter >> 8 & 0xFF), UInt8(counter & 0xFF)]).prefix(4))
        return .success(Array(data.prefix(4)) + random2 + serial(of: meter))
    }

    /// The ESAM's serial number, fixed per meter.
    func serial(of meter: DLT645Address) -> [UInt8] { Array(scheme.h("serial", meter.wire).prefix(8)) }

    /// A verified encrypted relay command as its plaintext relay command, or the refusal the meter
    /// answers: an error word (no session or an expired one, wrong MAC, wrong password), error
    /// byte 04 for a level that is not an encrypted one, 01 for a plaintext that makes no sense.
    /// `password` as written (`123456`), compared as for a plaintext command (`writtenPassword`).
    public func openRelayControl(_ data: [UInt8], password: String, at t: Double) -> Result<DLT645RelayCommand, SecurityRefusal> {
        guard data.count == DLT645Security.encryptedRelayLength, DLT645Security.encryptedLevels.contains(data[0]) else {
            return .failure(SecurityRefusal(byte: DLT645ErrorBits.unauthorised.rawValue))
        }
        let session = state.withLock { s -> (random1: [UInt8], openedAt: Double)? in
            if let open = s.session, t - open.openedAt > settings.sessionSeconds { s.session = nil }
            return s.session
        }
        guard let session else { return .failure(SecurityRefusal(word: DLT645RelayErrorWord.authenticationTimeout.rawValue)) }
        let header = Array(data[0..<8]), ciphertext = Array(data[8..<24]), mac = Array(data[24..<28])
        guard mac == scheme.mac(random1: session.random1, header: header, ciphertext: ciphertext) else {
            state.withLock { $0.session = nil }
            return .failure(SecurityRefusal(word: DLT645RelayErrorWord.macFailed.rawValue))
        }
        guard Hex.compact(header[1..<4].reversed()) == password else { return .failure(SecurityRefusal(word: DLT645RelayErrorWord.passwordWrong.rawValue)) }
        let plaintext = zip(ciphertext, scheme.keystream(random1: session.random1)).map { $0 ^ $1 }
        guard plaintext.suffix(8) == ArraySlice(ESAMKeyedScheme.padding),
              let command = try? DLT645RelayCommand(data: header + Array(plaintext.prefix(8))) else {
            return .failure(SecurityRefusal(byte: DLT645ErrorBits.other.rawValue))
        }
        return .success(command)
    }

    /// Whether a session is open at `t`, for the control channel's `state`.
    public func sessionOpen(at t: Double) -> Bool {
        state.withLock { s in s.session.map { t - $0.openedAt <= settings.sessionSeconds } ?? false }
    }
}

/// What a meter's security refusal carries: a 2-byte error word (low byte first) or, in the
/// older form, one error byte.
public struct SecurityRefusal: Error, Sendable, Hashable {
    public var data: [UInt8]

    public init(word: UInt16) { data = [UInt8(word & 0xFF), UInt8(word >> 8)] }
    public init(byte: UInt8) { data = [byte] }
}
