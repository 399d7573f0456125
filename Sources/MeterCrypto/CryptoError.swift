/// Why a key could not be made, read or used, naming what failed and carrying OpenSSL's own text.
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// libcrypto.so.3 could not be opened, or lacks a function the agent needs.
        case unavailable
        /// Not an Ed25519 key: wrong length, not PEM, another algorithm, or encrypted.
        case invalidKey = "invalid_key"
        /// OpenSSL failed an operation on a good key (out of memory, a provider missing).
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
