/// Why an MQTT operation failed, with the library's own message. Never carries a credential:
/// messages are built from host, port, client id and library error strings only.
public struct MQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// No connection right now; the record stays in the outbox.
        case notConnected = "not_connected"
        /// DNS lookup, TCP connect or socket error.
        case unreachable
        /// TLS handshake or certificate verification failed, or TLS files were rejected.
        case tls
        /// The broker answered CONNACK with a refusal (bad credentials, not authorised, bad client id).
        case refused
        /// No CONNACK or no PUBACK in time.
        case timeout
        /// The connection dropped while waiting.
        case connectionLost = "connection_lost"
        /// The broker acknowledged a publish with an MQTT 5 failure reason code.
        case rejected
        /// Bad settings (password file unreadable, payload too large, bad topic).
        case configuration
        /// The waiting task was cancelled (shutdown).
        case cancelled
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
