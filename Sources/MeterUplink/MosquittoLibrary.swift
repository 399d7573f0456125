#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMosquitto
import MeterCore

/// libmosquitto's functions (opened on first use, see CMosquitto's shim.h), its process-wide
/// state and its error texts.
enum MosquittoLibrary {
    /// Opened and `mosquitto_lib_init`ed exactly once per process (Swift runs a global's
    /// initializer once, thread-safely); never closed, because sessions may come and go until exit.
    private static let loaded: Result<Functions, MQTTError> = {
        let table = UnsafeMutablePointer<meteragent_mosquitto_api>.allocate(capacity: 1)
        defer { table.deallocate() }
        if let message = meteragent_mosquitto_load(table) {
            return .failure(MQTTError(.configuration, "cannot load libmosquitto.so.1 for the MQTT uplink: " + String(cString: message)
                                      + " (install the libmosquitto1 package)"))
        }
        let api = table.move()
        _ = api.lib_init()
        return .success(Functions(api: api))
    }()

    /// The function table; immutable once loaded, so it may be read from any thread.
    struct Functions: @unchecked Sendable {
        let api: meteragent_mosquitto_api
    }

    static func load() throws(MQTTError) -> meteragent_mosquitto_api {
        try loaded.get().api
    }

    /// Loads the library on a thread of its own the first time: dlopen reads and relocates
    /// libmosquitto, libssl and libcrypto, blocking work that must not hold a thread of Swift's pool.
    static func loadOffPool() async throws(MQTTError) {
        let result = await DedicatedThread.run(onCancel: Result<Void, MQTTError>.failure(MQTTError(.cancelled, "cancelled"))) {
            Result { () throws(MQTTError) in _ = try load() }
        }
        try result.get()
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
            guard let api = try? load() else { return "libmosquitto error \(rc)" }
            return text(api.strerror(rc)) ?? "libmosquitto error \(rc)"
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
        if version == MQTT_PROTOCOL_V5 { return reasonText(code) }
        guard let api = try? load() else { return "refused (code \(code))" }
        return text(api.connack_string(code)) ?? "refused (code \(code))"
    }

    /// An MQTT 5 reason code's name (CONNACK, PUBACK).
    static func reasonText(_ code: Int32) -> String {
        guard let api = try? load() else { return "reason \(code)" }
        return text(api.reason_string(code)) ?? "reason \(code)"
    }

    private static func text(_ cString: UnsafePointer<CChar>?) -> String? {
        cString.map { String(cString: $0) }
    }
}
