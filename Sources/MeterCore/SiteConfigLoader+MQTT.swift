#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The optional `mqtt:` section of a site config (see `Hardware/examples/example-site.yaml`).
extension SiteConfigLoader {
    static let mqttKeys = ["host", "port", "client_id", "username", "password", "password_file", "keepalive",
                           "clean_session", "protocol", "topic_prefix", "tls", "max_payload_bytes", "reconnect",
                           "publish_timeout_ms"]
    static let mqttTLSKeys = ["ca_file", "cert_file", "key_file", "insecure"]
    static let mqttReconnectKeys = ["min_ms", "max_ms"]

    /// Decodes `mqtt:`; nil after reporting when anything in it is wrong. File paths are taken
    /// relative to the config file and must be readable now (a typo is found by `config validate`,
    /// not after the first failed connection on site).
    static func decodeMQTT(_ node: YAMLNode, gateway: String?, file: String, into d: inout ConfigDiagnostics) -> MQTTConfig? {
        guard let m = d.mapping(node, what: "mqtt", allowed: mqttKeys, required: ["host"]) else { return nil }
        let before = d.errors.count
        let base = FilePaths.directory(of: file)

        let host = d.string(m, "host")
        let tls = m["tls"].flatMap { decodeMQTTTLS($0, base: base, into: &d) }
        let port = m["port"] == nil ? (tls == nil ? 1883 : 8883) : d.integer(m, "port", range: 1...65535)
        let clientID = m["client_id"] == nil ? gateway.map { "meteragent-\($0)" } : d.string(m, "client_id")
        if let id = clientID, id.utf8.count > 65535 { d.report(m["client_id"]!, "client_id is longer than MQTT allows") }
        let username = m["username"] == nil ? nil : d.string(m, "username")

        var password: MQTTPassword?
        if let inline = m["password"], let file = m["password_file"] {
            d.report(file, "give either 'password' or 'password_file' in mqtt, not both (password at line \(inline.location.line))")
        } else if m["password"] != nil {
            // Report the place only: the value itself must never reach a message.
            if let text = m["password"]?.scalar, !(m["password"]?.isNull ?? true) {
                password = .inline(Secret(text))
            } else {
                d.report(m["password"]!, "expected a string for 'password'")
            }
        } else if m["password_file"] != nil, let written = d.string(m, "password_file") {
            let path = FilePaths.join(base, written)
            if access(path, R_OK) != 0 {
                d.report(m["password_file"]!, "password_file '\(written)' cannot be read (looked in \(FilePaths.tidy(path)))")
            } else {
                password = .file(path)
            }
        }
        if password != nil, username == nil {
            d.report(m["password"] ?? m["password_file"]!, "a password needs 'username' in mqtt")
        }

        let keepalive = m["keepalive"].map { decodeSeconds($0, key: "keepalive", range: 5...3600, into: &d) } ?? 60
        let clean = m["clean_session"] == nil ? true : d.bool(m, "clean_session")
        let version: MQTTProtocolVersion? = m["protocol"] == nil ? .v311
            : d.choice(m, "protocol", as: MQTTProtocolVersion.self, label: "MQTT protocol version",
                       normalize: { $0 == "3.1.1" || $0 == "311" || $0 == "v3.1.1" ? "3.1.1" : ($0 == "v5" || $0 == "5.0" ? "5" : $0) })
        var prefix = m["topic_prefix"] == nil ? gateway.map { "meteragent/\($0)" } : d.string(m, "topic_prefix")
        if let p = prefix, m["topic_prefix"] != nil {
            if p.contains("+") || p.contains("#") || p.unicodeScalars.contains(where: { $0.value == 0 }) {
                d.report(m["topic_prefix"]!, "topic_prefix '\(p)' must not contain wildcards ('+', '#')")
            } else if p.hasSuffix("/") {
                prefix = String(p.dropLast())
            }
        }
        let maxPayload = m["max_payload_bytes"].map { decodePayloadBytes($0, into: &d) } ?? MQTTConfig.defaultMaxPayloadBytes
        let publishTimeout = m["publish_timeout_ms"] == nil ? 10_000 : d.integer(m, "publish_timeout_ms", range: 100...600_000)

        var reconnect: (min: Int, max: Int)? = (1_000, 60_000)
        if let r = m["reconnect"] {
            reconnect = nil
            if let rm = d.mapping(r, what: "mqtt reconnect", allowed: mqttReconnectKeys) {
                let low = rm["min_ms"] == nil ? 1_000 : d.integer(rm, "min_ms", range: 10...3_600_000)
                let high = rm["max_ms"] == nil ? max(60_000, low ?? 0) : d.integer(rm, "max_ms", range: 10...86_400_000)
                if let low, let high {
                    if high < low {
                        d.report(rm["max_ms"] ?? r, "reconnect max_ms \(high) is below min_ms \(low)")
                    } else {
                        reconnect = (low, high)
                    }
                }
            }
        }

        guard d.errors.count == before, let host, let port, let clientID, let keepalive, let clean, let version,
              let prefix, let maxPayload, let reconnect, let publishTimeout else { return nil }
        return MQTTConfig(host: host, port: port, clientID: clientID, username: username, password: password,
                          keepaliveSeconds: keepalive, cleanSession: clean, protocolVersion: version,
                          topicPrefix: prefix, tls: tls, maxPayloadBytes: maxPayload,
                          reconnectMinMs: reconnect.min, reconnectMaxMs: reconnect.max,
                          publishTimeoutMs: publishTimeout)
    }

    static func decodeMQTTTLS(_ node: YAMLNode, base: String, into d: inout ConfigDiagnostics) -> MQTTTLSConfig? {
        // `tls: true` switches TLS on with the system's CAs.
        if case .scalar = node.kind, !node.isNull {
            switch node.scalar?.lowercased() {
            case "true", "yes", "on": return MQTTTLSConfig()
            default:
                d.report(node, "expected a mapping or true for 'tls', got \(describe(node))")
                return nil
            }
        }
        if node.isNull { return MQTTTLSConfig() }
        guard let m = d.mapping(node, what: "mqtt tls", allowed: mqttTLSKeys) else { return nil }
        let before = d.errors.count
        func readable(_ key: String) -> String? {
            guard m[key] != nil, let written = d.string(m, key) else { return nil }
            let path = FilePaths.join(base, written)
            if access(path, R_OK) != 0 {
                d.report(m[key]!, "\(key) '\(written)' cannot be read (looked in \(FilePaths.tidy(path)))")
                return nil
            }
            return path
        }
        let ca = readable("ca_file")
        let cert = readable("cert_file")
        let key = readable("key_file")
        if (m["cert_file"] == nil) != (m["key_file"] == nil) {
            d.report(m["cert_file"] ?? m["key_file"]!, "a client certificate needs both 'cert_file' and 'key_file'")
        }
        let insecure = m["insecure"] == nil ? false : d.bool(m, "insecure")
        guard d.errors.count == before, let insecure else { return nil }
        return MQTTTLSConfig(caFile: ca, certFile: cert, keyFile: key, insecure: insecure)
    }

    /// `16384`, `16kB`, `1MB` (kB = 1024): 1 kB to 256 MB, MQTT's limit.
    static func decodePayloadBytes(_ node: YAMLNode, into d: inout ConfigDiagnostics) -> Int? {
        guard let text = node.scalar, !node.isNull, let bytes = StoreConfig.parseBytes(text) else {
            d.report(node, "expected a size for 'max_payload_bytes' (e.g. 16384 or 16kB), got \(describe(node))")
            return nil
        }
        guard (1024...(256 << 20)).contains(bytes) else {
            d.report(node, "max_payload_bytes \(text) out of range 1kB–256MB")
            return nil
        }
        return Int(bytes)
    }

    /// `60`, `60s`, `2m`: whole seconds within `range`.
    static func decodeSeconds(_ node: YAMLNode, key: String, range: ClosedRange<Int>, into d: inout ConfigDiagnostics) -> Int? {
        guard let text = node.scalar, !node.isNull, let ms = parseInterval(text), ms % 1000 == 0 else {
            d.report(node, "expected a number of seconds for '\(key)' (e.g. 60 or 60s), got \(describe(node))")
            return nil
        }
        guard range.contains(ms / 1000) else {
            d.report(node, "\(key) \(text) out of range \(range.lowerBound)s–\(range.upperBound)s")
            return nil
        }
        return ms / 1000
    }
}
