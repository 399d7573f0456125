/// The site config's `commands:` section: who may command this gateway.
public struct CommandSettings: Sendable, Hashable {
    /// Public keys by id; several at once while keys are rotated.
    public var keys: [CommandKey]
    /// Longest validity (`expires_at - issued_at`) a command may ask for. The command log keeps
    /// every id until it expires, so this also bounds how long it keeps them.
    public var maxValiditySeconds: Int64

    public static let defaultMaxValiditySeconds: Int64 = 86_400

    public init(keys: [CommandKey] = [], maxValiditySeconds: Int64 = defaultMaxValiditySeconds) {
        self.keys = keys
        self.maxValiditySeconds = maxValiditySeconds
    }

    public func key(_ id: String) -> CommandKey? { keys.first { $0.id == id } }
}

/// One head-end signing key: its id (the envelope's `key`) and the raw 32-byte Ed25519 public key.
public struct CommandKey: Sendable, Hashable {
    public var id: String
    public var ed25519: [UInt8]

    public init(id: String, ed25519: [UInt8]) {
        self.id = id
        self.ed25519 = ed25519
    }
}
