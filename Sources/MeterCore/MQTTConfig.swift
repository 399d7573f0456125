/// A secret from the site config (an MQTT password). Its description is redacted so that a
/// config printed in a log line or an error message never shows it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; only the code that hands it to a C library should read it.
    public let reveal: String

    public init(_ value: String) { reveal = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// Where the MQTT password comes from. A file is read at every connection attempt, so a rotated
/// password is picked up without a restart.
public enum MQTTPassword: Sendable, Hashable {
    case inline(Secret)
    case file(String)
}

public enum MQTTProtocolVersion: String, Sendable, Hashable, CaseIterable {
    case v311 = "3.1.1"
    case v5 = "5"
}

public struct MQTTTLSConfig: Sendable, Hashable {
    /// CA certificates that may sign the broker's certificate; nil uses the system's CA directory.
    public var caFile: String?
    /// Client certificate and key (PEM) for brokers that authenticate clients by certificate.
    public var certFile: String?
    public var keyFile: String?
    /// Skips the check that the broker's certificate names the host connected to. For test rigs only.
    public var insecure: Bool

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.insecure = insecure
    }
}

/// The `mqtt:` section of a site config: how the agent reaches the head-end's broker.
public struct MQTTConfig: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// Stable per gateway, so that a persistent session (`cleanSession == false`) is found again.
    public var clientID: String
    public var username: String?
    public var password: MQTTPassword?
    public var keepaliveSeconds: Int
    public var cleanSession: Bool
    public var protocolVersion: MQTTProtocolVersion
    /// `meteragent/<gateway-id>` unless configured; topics are `<prefix>/readings` etc.
    public var topicPrefix: String
    public var tls: MQTTTLSConfig?
    /// Upper bound of one batch message, sized for cellular links.
    public var maxPayloadBytes: Int
    /// Reconnect back-off: first wait and cap, both with jitter.
    public var reconnectMinMs: Int
    public var reconnectMaxMs: Int
    /// How long a publish waits for the broker's PUBACK before the connection counts as dead.
    public var publishTimeoutMs: Int

    public static let defaultMaxPayloadBytes = 16 * 1024

    public init(host: String, port: Int? = nil, clientID: String, username: String? = nil,
                password: MQTTPassword? = nil, keepaliveSeconds: Int = 60, cleanSession: Bool = true,
                protocolVersion: MQTTProtocolVersion = .v311, topicPrefix: String, tls: MQTTTLSConfig? = nil,
                maxPayloadBytes: Int = MQTTConfig.defaultMaxPayloadBytes, reconnectMinMs: Int = 1_000,
                reconnectMaxMs: Int = 60_000, publishTimeoutMs: Int = 10_000) {
        self.host = host
        self.port = port ?? (tls == nil ? 1883 : 8883)
        self.clientID = clientID
        self.username = username
        self.password = password
        self.keepaliveSeconds = keepaliveSeconds
        self.cleanSession = cleanSession
        self.protocolVersion = protocolVersion
        self.topicPrefix = topicPrefix
        self.tls = tls
        self.maxPayloadBytes = maxPayloadBytes
        self.reconnectMinMs = reconnectMinMs
        self.reconnectMaxMs = reconnectMaxMs
        self.publishTimeoutMs = publishTimeoutMs
    }

    /// Defaults for a gateway: client id `meteragent-<gateway>`, prefix `meteragent/<gateway>`.
    public static func defaults(host: String, gatewayID: String) -> MQTTConfig {
        MQTTConfig(host: host, clientID: "meteragent-\(gatewayID)", topicPrefix: "meteragent/\(gatewayID)")
    }
}
