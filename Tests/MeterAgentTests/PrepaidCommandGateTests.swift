import Foundation
import MeterAgent
import MeterCore
import MeterProtocols
import Testing

/// `credit.add` and `tariff.set` at the gate: only for devices under local cost control, with
/// their parameters checked (the signature checks are CommandGateTests').
@Suite struct PrepaidCommandGateTests {
    struct AnySignature: SignatureChecking {
        func isValid(signature: [UInt8], over message: [UInt8], key: CommandKey) -> Bool { true }
    }

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let gate: CommandGate

    init() throws {
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        let site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            buses:
              - {id: rs485, type: serial, port: /dev/null}
            devices:
              - {id: local-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter,
                 cost_control: {mode: local, tariff: {flat: 0.59}, low_credit: 10, initial_balance: 50, max_credit: 500}}
              - {id: remote-1, bus: rs485, unit: 2, profile: generic-modbus-relay-meter, cost_control: remote}
              - {id: plain-1, bus: rs485, unit: 3, profile: generic-modbus-relay-meter}
            """, file: "site.yaml", profiles: profiles)
        gate = CommandGate(site: site, signatures: AnySignature())
    }

    func plan(device: String = "local-1", _ action: String, params: String? = nil) throws -> Result<CommandPlan, CommandGate.Rejection> {
        var text = "{\"id\":\"c-1\",\"gateway\":\"gw-7\",\"device\":\"\(device)\",\"action\":\"\(action)\""
        if let params { text += ",\"params\":\(params)" }
        text += ",\"issued_at\":1,\"expires_at\":2}"
        return gate.plan(try SignedCommand(payload: Array(text.utf8)))
    }

    func rejection(device: String = "local-1", _ action: String, params: String? = nil) throws -> (CommandReason, String)? {
        guard case let .failure(rejection) = try plan(device: device, action, params: params) else { return nil }
        return (rejection.reason, rejection.message)
    }

    @Test func localDevicesTakeCreditsAndTariffs() throws {
        #expect(try plan("credit.add", params: "{\"amount\":10.50}").get() == .credit(ExactDecimal("10.5")!))
        #expect(try plan("tariff.set", params: "{\"flat\":0.61}").get() == .tariff(.flat(ExactDecimal("0.61")!)))
        let periods = "{\"periods\":[{\"from\":\"08:00\",\"to\":\"22:00\",\"price\":0.79},{\"from\":\"22:00\",\"to\":\"08:00\",\"price\":0.39}]}"
        guard case .tariff(.timeOfUse) = try plan("tariff.set", params: periods).get() else {
            Issue.record("periods not planned")
            return
        }
    }

    @Test func elsewhereTheyAreUnsupported() throws {
        let remote = try #require(try rejection(device: "remote-1", "credit.add", params: "{\"amount\":10}"))
        #expect(remote.0 == .unsupportedAction)
        #expect(remote.1 == "device 'remote-1' runs cost_control: remote (the head-end keeps its balance); credit.add is not carried out by this gateway")
        #expect(try rejection(device: "plain-1", "tariff.set", params: "{\"flat\":1}")?.0 == .unsupportedAction)
    }

    @Test func badParametersAreBadParams() throws {
        let cases: [(String, String?, String)] = [
            ("credit.add", nil, "credit.add needs params.amount (more than 0, at most 500)"),
            ("credit.add", "{\"amount\":0}", "params.amount 0 must be more than 0"),
            ("credit.add", "{\"amount\":-5}", "params.amount -5 must be more than 0"),
            ("credit.add", "{\"amount\":500.01}", "params.amount 500.01 is more than this device's max_credit 500"),
            ("credit.add", "{\"amount\":1.00001}", "params.amount 1.00001 has more than 4 decimals"),
            ("credit.add", "{\"amount\":\"ten\"}", "params.amount must be a number"),
            ("tariff.set", nil, "tariff.set needs params {\"flat\": PRICE} or {\"periods\": [{\"from\": \"HH:MM\", \"to\": \"HH:MM\", \"price\": PRICE}, …]}"),
            ("tariff.set", "{\"flat\":0.5,\"periods\":[]}", "params: a tariff is either 'flat' or 'periods', not both"),
            ("tariff.set", "{\"periods\":[{\"from\":\"08:00\",\"to\":\"22:00\",\"price\":0.79}]}",
             "params: the periods leave 00:00–08:00, 22:00–24:00 uncovered; time-of-use periods must cover the whole day"),
            ("tariff.set", "{\"price\":1}", "params: unknown key 'price' in tariff (expected one of: flat, periods)"),
        ]
        for (action, params, message) in cases {
            let rejection = try rejection(action, params: params)
            #expect(rejection?.0 == .badParams, "\(action) \(params ?? "-")")
            #expect(rejection?.1 == message)
        }
    }
}
