/// DL/T 645 relay control (0x1C) as one meter model accepts it; see PROTOCOLS.md. Grids and
/// vendors differ on the plaintext password level and which N1 codes plaintext may send.
public struct RelayControlSettings: Sendable, Hashable {
    /// The password level PA sent before the password (02/04 State Grid, 03 Southern Grid).
    public var passwordLevel: UInt8
    /// The N1 codes the meter accepts in plaintext (0x1A trip, 0x1B close allowed, 0x1C direct
    /// close, 0x2A/0x2B alarm on/off, 0x3A/0x3B keep power on/release).
    public var acceptedCodes: [UInt8]
    /// How far in the future the command deadline (N3–N8) lies, in seconds.
    public var deadlineSeconds: Int

    public init(passwordLevel: UInt8 = 0x02, acceptedCodes: [UInt8] = [0x1A, 0x1B, 0x1C, 0x2A, 0x2B, 0x3A, 0x3B],
                deadlineSeconds: Int = 600) {
        self.passwordLevel = passwordLevel
        self.acceptedCodes = acceptedCodes
        self.deadlineSeconds = deadlineSeconds
    }
}
