import Foundation
import MeterCore
import Testing

/// The `mqtt:` section of a site config.
struct MQTTConfigTests {
    func load(_ mqtt: String, file: String = "s.yaml") throws(ConfigErrors) -> SiteConfig {
        try SiteConfigLoader.load(text: "gateway: gw-7\nbuses: []\n" + mqtt, file: file, profiles: [:])
    }

    func errors(_ mqtt: String, file: String = "s.yaml") -> [String] {
        do {
            _ = try load(mqtt, file: file)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func noSectionMeansNoUplink() throws {
        #expect(try load("").mqtt == nil)
    }

    @Test func defaultsFollowTheGateway() throws {
        let mqtt = try #require(try load("mqtt: {host: broker.example}\n").mqtt)
        #expect(mqtt.host == "broker.example")
        #expect(mqtt.port == 1883)
        #expect(mqtt.clientID == "meteragent-gw-7")
        #expect(mqtt.topicPrefix == "meteragent/gw-7")
        #expect(mqtt.keepaliveSeconds == 60)
        #expect(mqtt.cleanSession)
        #expect(mqtt.protocolVersion == .v311)
        #expect(mqtt.tls == nil)
        #expect(mqtt.maxPayloadBytes == 16_384)
        #expect(mqtt.reconnectMinMs == 1_000 && mqtt.reconnectMaxMs == 60_000)
        #expect(mqtt.username == nil && mqtt.password == nil)
    }

    @Test func everyKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["ca.pem", "client.pem", "client.key"] {
            try "x".write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let text = """
        mqtt:
          host: 10.0.0.5
          client_id: gw7-main
          username: gw7
          password: s3cret-pw
          keepalive: 2m
          clean_session: false
          protocol: 5
          topic_prefix: utility/north/gw7/
          tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, insecure: true}
          max_payload_bytes: 4096
          reconnect: {min_ms: 500, max_ms: 30000}
          publish_timeout_ms: 5000
        """
        let mqtt = try #require(try load(text, file: dir.appendingPathComponent("site.yaml").path).mqtt)
        #expect(mqtt.port == 8883)
        #expect(mqtt.clientID == "gw7-main")
        #expect(mqtt.username == "gw7")
        #expect(mqtt.password == .inline(Secret("s3cret-pw")))
        #expect(mqtt.keepaliveSeconds == 120)
        #expect(!mqtt.cleanSession)
        #expect(mqtt.protocolVersion == .v5)
        #expect(mqtt.topicPrefix == "utility/north/gw7")
        #expect(mqtt.tls == MQTTTLSConfig(caFile: dir.appendingPathComponent("ca.pem").path,
                                          certFile: dir.appendingPathComponent("client.pem").path,
                                          keyFile: dir.appendingPathComponent("client.key").path, insecure: true))
        #expect(mqtt.maxPayloadBytes == 4096)
        #expect(mqtt.reconnectMinMs == 500 && mqtt.reconnectMaxMs == 30_000)
        #expect(mqtt.publishTimeoutMs == 5000)
    }

    @Test func thePasswordNeverShowsWhenTheConfigIsPrinted() throws {
        let site = try load("mqtt: {host: h, username: u, password: hunter2-very-secret}\n")
        #expect(!"\(site)".contains("hunter2"))
        #expect(!String(reflecting: site).contains("hunter2"))
        if case let .inline(secret) = site.mqtt?.password { #expect(secret.reveal == "hunter2-very-secret") }
    }

    @Test func errorsNameFileLineAndColumnAndNeverThePassword() {
        let text = """
        mqtt:
          host: h
          port: 70000
          password: topsecret-123
          protocol: 4
          tls: {ca_file: /nonexistent/ca.pem, cert_file: /nonexistent/c.pem}
          reconnect: {min_ms: 5000, max_ms: 100}
          topic_prefix: "a/+/b"
          speed: fast
        """
        let found = errors(text)
        #expect(found == [
            "s.yaml:5:9: port 70000 out of range 1–65535",
            "s.yaml:6:13: a password needs 'username' in mqtt",
            "s.yaml:7:13: unknown MQTT protocol version '4' (expected one of: 3.1.1, 5)",
            "s.yaml:8:18: ca_file '/nonexistent/ca.pem' cannot be read (looked in /nonexistent/ca.pem)",
            "s.yaml:8:50: cert_file '/nonexistent/c.pem' cannot be read (looked in /nonexistent/c.pem)",
            "s.yaml:8:50: a client certificate needs both 'cert_file' and 'key_file'",
            "s.yaml:9:37: reconnect max_ms 100 is below min_ms 5000",
            "s.yaml:10:17: topic_prefix 'a/+/b' must not contain wildcards ('+', '#')",
            "s.yaml:11:3: unknown key 'speed' in mqtt (expected one of: host, port, client_id, username, password, password_file, keepalive, clean_session, protocol, topic_prefix, tls, max_payload_bytes, reconnect, publish_timeout_ms)",
        ], "\(found)")
        #expect(!found.joined().contains("topsecret"))
    }

    @Test func missingHostAndBothPasswordKinds() {
        #expect(errors("mqtt: {port: 1883}\n") == ["s.yaml:3:7: missing key 'host' in mqtt"])
        let both = errors("mqtt: {host: h, username: u, password: p, password_file: /etc/hostname}\n")
        #expect(both.count == 1 && both[0].hasPrefix("s.yaml:3:58: give either 'password' or 'password_file'"), "\(both)")
    }

    @Test func passwordFileIsRelativeToTheConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-pw-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "pw\n".write(to: dir.appendingPathComponent("mqtt.pw"), atomically: true, encoding: .utf8)
        let site = try load("mqtt: {host: h, username: u, password_file: mqtt.pw}\n", file: dir.appendingPathComponent("site.yaml").path)
        #expect(site.mqtt?.password == .file(dir.appendingPathComponent("mqtt.pw").path))
        let missing = errors("mqtt: {host: h, username: u, password_file: nope.pw}\n", file: dir.appendingPathComponent("site.yaml").path)
        #expect(missing.count == 1 && missing[0].contains("password_file 'nope.pw' cannot be read"), "\(missing)")
    }
}
