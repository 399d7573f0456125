#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMosquitto

/// libmosquitto's process-wide state and its error texts, wrapped once.
enum MosquittoLibrary {
    /// `mosquitto_lib_init` exactly once per process (Swift runs a global's initializer once,
    /// thread-safely); it is never cleaned up because sessions may come and go until exit.
    private static let initialized: Bool = {
        mosquitto_lib_init()
        return true
    }()

    static func ensureInitialized() { _ = initialized }

    static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        mosquitto_lib_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }

    /// The library's text for a return code; `errnoValue` (captured right after the call) explains
    /// MOSQ_ERR_ERRNO and, for MOSQ_ERR_EAI, holds the getaddrinfo code.
    static func describe(_ rc: Int32, errno errnoValue: Int32 = 0) -> String {
        switch rc {
        case Int32(MOSQ_ERR_ERRNO.rawValue):
            return String(cString: strerror(errnoValue))
        case Int32(MOSQ_ERR_EAI.rawValue):
            return "host name lookup failed: " + String(cString: gai_strerror(errnoValue))
        default:
            return String(cString: mosquitto_strerror(rc))
        }
    }

    /// What kind of failure a return code of connect/publish is.
    static func kind(_ rc: Int32) -> MQTTError.Kind {
        switch rc {
        case Int32(MOSQ_ERR_NO_CONN.rawValue): .notConnected
        case Int32(MOSQ_ERR_TLS.rawValue), Int32(MOSQ_ERR_TLS_HANDSHAKE.rawValue), Int32(MOSQ_ERR_OCSP.rawValue): .tls
        case Int32(MOSQ_ERR_CONN_REFUSED.rawValue), Int32(MOSQ_ERR_AUTH.rawValue): .refused
        case Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue), Int32(MOSQ_ERR_INVAL.rawValue),
             Int32(MOSQ_ERR_MALFORMED_UTF8.rawValue), Int32(MOSQ_ERR_OVERSIZE_PACKET.rawValue): .configuration
        case Int32(MOSQ_ERR_KEEPALIVE.rawValue), Int32(MOSQ_ERR_CONN_LOST.rawValue): .connectionLost
        default: .unreachable
        }
    }

    /// CONNACK refusal text: MQTT 3.1.1 return codes and MQTT 5 reason codes differ.
    static func connackText(_ code: Int32, version: Int32) -> String {
        if version == MQTT_PROTOCOL_V5 { return String(cString: mosquitto_reason_string(code)) }
        return String(cString: mosquitto_connack_string(code))
    }
}
