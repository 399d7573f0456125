import Foundation
import MeterAgent
import MeterCore
import MeterCrypto
import MeterProtocols
import Testing

/// `esam.forward` at the gate: only where the profile maps it, with frames the agent forwards
/// (hex, control 03 or 1C, sizes of a DL/T 645 frame, a few of them), never a relay command to a
/// protected device; and the meter's replies in the result.
@Suite struct ESAMForwardGateTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let authentication = "FF000007000000003608D11CF632AC6F01020304050607080000030325112620"
    static let encryptedTrip = "96000000000000002479C3C163FA78BC71AC384B60E023BDBB354CF7"
    let key: Ed25519PrivateKey
    let gate: CommandGate
    let now: Int64 = 1_800_000_000

    init() throws {
        key = try Ed25519PrivateKey.generate()
        let profiles = try ProfileLoader.loadDirectory(Self.repo + "/Hardware/profiles")
        let site = try SiteConfigLoader.load(text: """
            gateway: gw-7
            commands:
              keys:
                - {id: ops-1, ed25519: \(Base64.encode(key.publicKey.raw))}
            buses:
              - {id: dlt, type: serial, port: /dev/null, protocol: dlt645}
            devices:
              - {id: prepaid-1, bus: dlt, address: "202611250303", profile: dlt645-2007-csg}
              - {id: prepaid-2, bus: dlt, address: "202611250304", profile: dlt645-2007-csg, protected: true}
              - {id: plain-1, bus: dlt, address: "202611250305", profile: dlt645-2007-generic}
            """, file: "site.yaml", profiles: profiles)
        gate = CommandGate(site: site, signatures: Ed25519Signatures())
    }

    /// The plan, or the rejection's reason and message.
    func outcome(_ params: String?, device: String = "prepaid-1", action: String = "esam.forward") throws -> (CommandPlan?, (CommandReason, String)?) {
        var text = "{\"id\":\"e-1\",\"gateway\":\"gw-7\",\"device\":\"\(device)\",\"action\":\"\(action)\""
        if let params { text += ",\"params\":\(params)" }
        let payload = Array((text + ",\"issued_at\":\(now - 10),\"expires_at\":\(now + 300)}").utf8)
        let envelope = Array("{\"key\":\"ops-1\",\"payload\":\"\(Base64.encode(payload))\",\"sig\":\"\(Base64.encode(try key.signature(for: payload)))\"}".utf8)
        guard case let .success(command) = gate.authenticate(envelope, nowSeconds: now) else {
            Issue.record("not authenticated: \(text)")
            return (nil, nil)
        }
        switch gate.plan(command) {
        case let .success(plan): return (plan, nil)
        case let .failure(rejection): return (nil, (rejection.reason, rejection.message))
        }
    }

    func frames(_ items: (String, String)...) -> String {
        "{\"frames\":[" + items.map { "{\"control\":\"\($0.0)\",\"data\":\"\($0.1)\"}" }.joined(separator: ",") + "]}"
    }

    /// The rejection's reason and message, nil when planned.
    func rejection(_ params: String?, device: String = "prepaid-1", action: String = "esam.forward") throws -> (CommandReason, String)? {
        try outcome(params, device: device, action: action).1
    }

    @Test func framesBecomeTheMetersCommandInOrder() throws {
        let plan = try outcome(frames(("03", Self.authentication), ("1c", Self.encryptedTrip.lowercased()))).0
        #expect(plan == .meter(.esamForward([ESAMBlock(control: 0x03, data: Hex.parse(Self.authentication)!),
                                             ESAMBlock(control: 0x1C, data: Hex.parse(Self.encryptedTrip)!)])))
        // An authentication alone (the head-end makes the command from the meter's random 2).
        #expect(try rejection(frames(("03", Self.authentication))) == nil)
    }

    @Test func onlyProfilesThatMapItTakeItAndNoPlaintextTripThere() throws {
        let plain = try #require(try rejection(frames(("03", Self.authentication)), device: "plain-1"))
        #expect(plain.0 == .unsupportedAction && plain.1.contains("does not support esam.forward"))
        let trip = try #require(try rejection(nil, action: "relay.open"))
        #expect(trip.0 == .unsupportedAction && trip.1.contains("it supports: read.now, esam.forward, relay.arm, relay.close, time.sync"))
    }

    @Test func badFramesAreBadParamsWithAClearMessage() throws {
        let cases: [(String?, String)] = [
            (nil, "esam.forward needs params.frames"),
            ("{\"frames\":[]}", "not empty"),
            ("{\"frames\":\"03\"}", "must be a list"),
            (frames(("03", Self.authentication), ("03", Self.authentication), ("03", Self.authentication), ("03", Self.authentication), ("1C", Self.encryptedTrip)),
             "has 5 frames; at most 4"),
            ("{\"frames\":[\"03\"]}", "params.frames[0] must be an object"),
            ("{\"frames\":[{\"control\":\"03\",\"data\":\"\(Self.authentication)\",\"address\":\"1\"}]}", "has 'address'"),
            ("{\"frames\":[{\"control\":\"03\",\"control\":\"1C\",\"data\":\"\(Self.encryptedTrip)\"}]}", "names 'control' or 'data' twice"),
            ("{\"frames\":[{\"control\":3,\"data\":\"\(Self.authentication)\"}]}", "params.frames[0].control must be a control code"),
            (frames(("003", Self.authentication)), "params.frames[0].control must be a control code"),
            (frames(("03", "FF00000")), "params.frames[0].data must be hex digits"),
            (frames(("03", "GG")), "params.frames[0].data must be hex digits"),
            (frames(("03", Self.authentication), ("14", "00")), "params.frames[1]: control 0x14 is not forwarded (forwarded: 0x03, 0x1C)"),
            (frames(("1C", "02000000010000001A000000000101990000")), "params.frames[0]: an encrypted 0x1C block has 28 bytes"),
            (frames(("1C", "02" + Self.encryptedTrip.dropFirst(2))), "password level 98 or 96, not 02"),
            (frames(("03", "00000100")), "security identifier 07xxxxxx"),
            (frames(("03", "FF000007" + String(repeating: "00", count: 197))), "longer than a frame's 200"),
        ]
        for (params, expected) in cases {
            let rejected = try rejection(params)
            #expect(rejected?.0 == .badParams, "\(params ?? "nil")")
            #expect(rejected?.1.contains(expected) == true, "\(params ?? "nil"): \(rejected?.1 ?? "planned")")
        }
    }

    @Test func aProtectedDeviceGetsNoForwardedRelayCommand() throws {
        let protected = try #require(try rejection(frames(("03", Self.authentication), ("1C", Self.encryptedTrip)), device: "prepaid-2"))
        #expect(protected.0 == .protectedDevice && protected.1.contains("may be a trip"))
        // Authentication alone (no relay command) is forwarded.
        #expect(try rejection(frames(("03", Self.authentication)), device: "prepaid-2") == nil)
    }

    @Test func theResultCarriesTheRawReplies() throws {
        var result = CommandResult(id: "e-1", device: "prepaid-1", action: "esam.forward", status: .failed, reason: .meterRefused,
                                   message: "frame 2 (0x1C): relay control refused", receivedMs: 1, finishedMs: 2)
        result.replies = [ForwardedReply(control: 0x83, data: [0xFF, 0x00, 0x00, 0x07, 0x1A]),
                          ForwardedReply(control: 0xDC, data: [0x02, 0x00], error: "error word 0002: MAC check failed")]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        let replies = try #require(object["replies"] as? [[String: Any]])
        #expect(replies.count == 2)
        #expect(replies[0]["control"] as? String == "83" && replies[0]["data"] as? String == "FF0000071A" && replies[0]["error"] == nil)
        #expect(replies[1]["control"] as? String == "DC" && replies[1]["data"] as? String == "0200")
        #expect(replies[1]["error"] as? String == "error word 0002: MAC check failed")
        #expect(object["reason"] as? String == "meter_refused")
        // Results of other commands have no replies.
        #expect(!CommandResult.rejected(.expired, "x", id: "c", receivedMs: 1, now: 2).json.contains("replies"))
    }
}
