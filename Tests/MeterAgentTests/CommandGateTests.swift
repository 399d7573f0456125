import Foundation
import MeterAgent
import MeterCore
import MeterCrypto
import MeterProtocols
import Testing

/// The checks on a head-end command, in their order, each with its reason; signatures made and
/// checked with OpenSSL's Ed25519 (MeterCrypto).
@Suite struct CommandGateTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let key: Ed25519PrivateKey
    let site: SiteConfig
    let gate: CommandGate
    let now: Int64 = 1_800_000_000

    init() throws {
        key = try Ed25519PrivateKey.generate()
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            commands:
              keys:
                - {id: ops-1, ed25519: \(Base64.encode(key.publicKey.raw))}
              max_validity_s: 3600
            buses:
              - {id: rs485, type: serial, port: /dev/null}
              - {id: gas-line, type: serial, port: /dev/zero, protocol: cjt188}
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter}
              - {id: flat-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter, protected: true}
              - {id: main, bus: rs485, unit: 3, profile: eastron-sdm120}
              - {id: gas-1, bus: gas-line, address: "00000000301003", profile: cjt188-gas}
            """, file: "site.yaml", profiles: profiles)
        gate = CommandGate(site: site, signatures: Ed25519Signatures())
    }

    func payload(id: String = "c-1", gateway: String = "gw-7", device: String = "flat-1", action: String = "relay.open",
                 params: String? = nil, issued: Int64? = nil, expires: Int64? = nil) -> [UInt8] {
        var text = "{\"id\":\"\(id)\",\"gateway\":\"\(gateway)\",\"device\":\"\(device)\",\"action\":\"\(action)\""
        if let params { text += ",\"params\":\(params)" }
        text += ",\"issued_at\":\(issued ?? now - 10),\"expires_at\":\(expires ?? now + 300)}"
        return Array(text.utf8)
    }

    func envelope(_ payload: [UInt8], keyID: String = "ops-1", signer: Ed25519PrivateKey? = nil) throws -> [UInt8] {
        let signature = try (signer ?? key).signature(for: payload)
        return Array("{\"key\":\"\(keyID)\",\"payload\":\"\(Base64.encode(payload))\",\"sig\":\"\(Base64.encode(signature))\"}".utf8)
    }

    func reason(_ message: [UInt8]) -> CommandReason? {
        switch gate.authenticate(message, nowSeconds: now) {
        case let .failure(rejection): return rejection.reason
        case let .success(command):
            if case let .failure(rejection) = gate.plan(command) { return rejection.reason }
            return nil
        }
    }

    func plan(_ message: [UInt8]) -> CommandPlan? {
        guard case let .success(command) = gate.authenticate(message, nowSeconds: now),
              case let .success(plan) = gate.plan(command) else { return nil }
        return plan
    }

    @Test func aGoodCommandBecomesTheProfilesWrite() throws {
        #expect(plan(try envelope(payload())) == .meter(.write(point: PointName("relay.state"), value: .zero)))
        #expect(plan(try envelope(payload(action: "load.limit", params: "{\"kw\":7.5}")))
                == .meter(.write(point: PointName("load.limit"), value: ExactDecimal("7.5")!)))
        #expect(plan(try envelope(payload(device: "gas-1", action: "valve.close"))) == .meter(.valveClose))
        #expect(plan(try envelope(payload(device: "main", action: "read.now", params: "{\"points\":[\"energy.total\"]}")))
                == .read([PointName("energy.total")]))
    }

    @Test func eachCheckHasItsReason() throws {
        let good = payload()
        #expect(reason(Array("not json".utf8)) == .malformed)
        #expect(reason(Array("{\"key\":\"ops-1\",\"payload\":\"%%%\",\"sig\":\"AA==\"}".utf8)) == .malformed)
        #expect(reason(try envelope(good, keyID: "ops-9")) == .unknownKey)
        #expect(reason(try envelope(good, signer: try Ed25519PrivateKey.generate())) == .badSignature)
        var tampered = try envelope(good)
        let replaced = String(decoding: tampered, as: UTF8.self).replacingOccurrences(of: Base64.encode(good), with: Base64.encode(payload(device: "flat-3")))
        tampered = Array(replaced.utf8)
        #expect(reason(tampered) == .badSignature)
        #expect(reason(try envelope(Array("{\"id\":\"c-1\"}".utf8))) == .malformed)
        #expect(reason(try envelope(payload(gateway: "gw-8"))) == .otherGateway)
        #expect(reason(try envelope(payload(issued: now + 600, expires: now + 900))) == .notYetValid)
        #expect(reason(try envelope(payload(issued: now - 600, expires: now - 1))) == .expired)
        #expect(reason(try envelope(payload(issued: now - 10, expires: now + 7200))) == .validityTooLong)
        #expect(reason(try envelope(payload(device: "flat-9"))) == .unknownDevice)
        #expect(reason(try envelope(payload(action: "relay.explode"))) == .unsupportedAction)
        #expect(reason(try envelope(payload(device: "main", action: "relay.open"))) == .unsupportedAction)
        #expect(reason(try envelope(payload(device: "gas-1", action: "relay.open"))) == .unsupportedAction)
        #expect(reason(try envelope(payload(device: "flat-2"))) == .protectedDevice)
        #expect(reason(try envelope(payload(device: "flat-2", action: "relay.close"))) == nil)
        #expect(reason(try envelope(payload(action: "load.limit", params: "{\"kw\":600}"))) == .badParams)
        #expect(reason(try envelope(payload(action: "load.limit", params: "{\"kw\":\"lots\"}"))) == .badParams)
        #expect(reason(try envelope(payload(action: "load.limit"))) == .badParams)
        #expect(reason(try envelope(payload(action: "read.now", params: "{\"points\":[\"nope\"]}"))) == .badParams)
    }

    @Test func theChecksRunInTheirOrder() throws {
        // Expired, for another gateway and an unknown device at once: the gateway check comes first.
        #expect(reason(try envelope(payload(gateway: "gw-8", device: "flat-9", issued: now - 600, expires: now - 1))) == .otherGateway)
        // Expired and for an unknown device: expiry first (the device is looked up after the id).
        #expect(reason(try envelope(payload(device: "flat-9", issued: now - 600, expires: now - 1))) == .expired)
        // Protected and bad parameters: protection first.
        #expect(reason(try envelope(payload(device: "flat-2", action: "load.limit", params: "{\"kw\":600}"))) == .protectedDevice)
    }

    @Test func resultsAreJSONWithTheirReason() throws {
        let result = CommandResult.rejected(.expired, "expired 5 s ago", id: "c-\"1", receivedMs: 1, now: 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "c-\"1")
        #expect(object["status"] as? String == "rejected")
        #expect(object["reason"] as? String == "expired")
        #expect(object["type"] as? String == "command.result")
    }
}
