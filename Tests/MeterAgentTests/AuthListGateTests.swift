import Foundation
import MeterAgent
import MeterCore
import MeterCrypto
import MeterProtocols
import Testing

/// `authlist.update` at the gate: a gateway-level action (`device` is the gateway id), a full
/// list or a delta, every bad entry named by its place and field.
@Suite struct AuthListGateTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let site: SiteConfig
    let gate: CommandGate

    init() throws {
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            buses:
              - {id: rs485, type: serial, port: /dev/null}
            devices:
              - {id: bay-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter}
              - {id: bay-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter}
            """, file: "site.yaml", profiles: profiles)
        gate = CommandGate(site: site, signatures: AcceptAll())
    }

    struct AcceptAll: SignatureChecking {
        func isValid(signature: [UInt8], over message: [UInt8], key: CommandKey) -> Bool { true }
    }

    func plan(_ params: String, device: String = "gw-7") throws -> Result<CommandPlan, CommandGate.Rejection> {
        let payload = "{\"id\":\"a-1\",\"gateway\":\"gw-7\",\"device\":\"\(device)\",\"action\":\"authlist.update\",\"params\":\(params),\"issued_at\":1,\"expires_at\":2}"
        return gate.plan(try SignedCommand(payload: Array(payload.utf8)))
    }

    func rejection(_ params: String, device: String = "gw-7") throws -> (CommandReason, String)? {
        guard case let .failure(rejection) = try plan(params, device: device) else { return nil }
        return (rejection.reason, rejection.message)
    }

    static let tag = CardID(technology: .em4100, bytes: [0x0F, 0x00, 0x27, 0x1D, 0xA5])
    static let uid = CardID(technology: .iso14443a, bytes: [0x04, 0xA1, 0xB2, 0xC3])

    @Test func aFullListAndADeltaArePlanned() throws {
        let full = try plan("""
            {"version": 3, "cards": [
              {"card": "em4100:0f00271da5", "role": "technician"},
              {"card": "iso14443a:04A1B2C3", "role": "customer", "expires_at": 1900000000, "supply_points": ["bay-1", "bay-2"]}]}
            """)
        #expect(try full.get() == .authorizations(.replace(version: 3, cards: [
            AuthorizedCard(card: Self.tag, role: .technician),
            AuthorizedCard(card: Self.uid, role: .customer, expiresAt: 1_900_000_000, supplyPoints: [DeviceID("bay-1"), DeviceID("bay-2")]),
        ])))
        let delta = try plan("{\"version\": 4, \"base\": 3, \"add\": [{\"card\": \"iso14443a:04A1B2C3\", \"role\": \"technician\"}], \"remove\": [\"em4100:0F00271DA5\"]}")
        #expect(try delta.get() == .authorizations(.delta(version: 4, base: 3, add: [AuthorizedCard(card: Self.uid, role: .technician)],
                                                           remove: [Self.tag])))
        #expect(try plan("{\"version\": 1, \"cards\": []}").get() == .authorizations(.replace(version: 1, cards: [])))
    }

    @Test func theDeviceIsTheGateway() throws {
        let refused = try rejection("{\"version\": 1, \"cards\": []}", device: "bay-1")
        #expect(refused?.0 == .unknownDevice)
        #expect(refused?.1 == "authlist.update is for the gateway: its device must be 'gw-7', not 'bay-1'")
    }

    @Test(arguments: [
        ("{}", "params.version must be a whole number above 0"),
        ("{\"version\": 0, \"cards\": []}", "params.version must be a whole number above 0"),
        ("{\"version\": \"2\", \"cards\": []}", "params.version must be a whole number above 0"),
        ("{\"version\": 2}", "authlist.update needs params"),
        ("{\"version\": 2, \"cards\": [], \"colour\": 1}", "params.colour is not known"),
        ("{\"version\": 2, \"cards\": {}}", "params.cards must be a list"),
        ("{\"version\": 2, \"cards\": [\"em4100:0F00271DA5\"]}", "params.cards[0] must be an object"),
        ("{\"version\": 2, \"cards\": [{\"role\": \"customer\"}]}", "params.cards[0].card must be a string"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F0027\", \"role\": \"customer\"}]}", "params.cards[0].card: an em4100 id is 5 bytes (10 hex digits), not 3"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"iso14443a:0102030405\", \"role\": \"customer\"}]}", "params.cards[0].card: an iso14443a UID is 4, 7 or 10 bytes, not 5"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"mifare:01020304\", \"role\": \"customer\"}]}", "params.cards[0].card: unknown card technology 'mifare'"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DZZ\", \"role\": \"customer\"}]}", "params.cards[0].card: '0F00271DZZ' is not hex bytes"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"admin\"}]}", "params.cards[0].role must be \"technician\" or \"customer\""),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"customer\", \"expires_at\": \"soon\"}]}", "params.cards[0].expires_at must be Unix seconds"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"customer\", \"supply_points\": [\"bay-9\"]}]}", "params.cards[0].supply_points[0]: no device 'bay-9' on this gateway"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"customer\", \"pin\": 1234}]}", "params.cards[0].pin is not known"),
        ("{\"version\": 2, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"customer\"}, {\"card\": \"em4100:0f00271da5\", \"role\": \"technician\"}]}", "params.cards[1].card em4100:0F00271DA5 is already params.cards[0]"),
        ("{\"version\": 2, \"base\": 2, \"add\": []}", "params.version 2 must be above params.base 2"),
        ("{\"version\": 3, \"base\": 2, \"cards\": []}", "params has both cards (a full list) and base (a delta)"),
        ("{\"version\": 3, \"remove\": []}", "params.add and params.remove make a delta, which needs params.base"),
        ("{\"version\": 3, \"base\": 2, \"remove\": [\"em4100:0F\"]}", "params.remove[0]: an em4100 id is 5 bytes"),
        ("{\"version\": 3, \"base\": 2, \"add\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"customer\"}], \"remove\": [\"em4100:0F00271DA5\"]}", "card em4100:0F00271DA5 is both in params.add and params.remove"),
    ])
    func badParamsNameTheEntryAndField(params: String, message: String) throws {
        let refused = try rejection(params)
        #expect(refused?.0 == .badParams, "\(params)")
        #expect(refused?.1.hasPrefix(message) == true, "\(refused?.1 ?? "accepted")")
    }

    @Test func profilesCannotDeclareIt() {
        let errors: [String]
        do {
            _ = try ProfileLoader.load(text: """
                manufacturer: X
                model: Y
                medium: electricity
                protocol: modbus
                points:
                  - {name: relay.state, table: coil, address: 0, type: bool}
                actions:
                  authlist.update: {write: relay.state, value: 1}
                """, file: "p.yaml", name: "p")
            errors = []
        } catch {
            errors = error.errors.map(\.description)
        }
        #expect(errors.contains { $0.contains("'authlist.update' is carried out by the agent, not the meter") }, "\(errors)")
    }
}
