import Foundation
import Testing

/// `authlist.update` end to end (issue 12, "Authorization"): signed by `meteragent sign`, through a
/// real mosquitto to `meteragent run`, answered on `<prefix>/cmd/result`; the list's version
/// survives a restart of the agent.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AuthListCommandTests {
    static let gateway = CommandTests.gateway

    @Test func fullListsAndDeltasAreVersionedAndTheVersionSurvivesARestart() throws {
        let rig = try CommandTests.Rig()
        defer { rig.stop() }
        try rig.startAgent()
        func send(_ id: String, device: String = Self.gateway, _ params: String) throws -> [String: Any] {
            try rig.publish(try rig.sign(rig.command(id, device: device, action: "authlist.update", params: params)))
            return try rig.result(id)
        }

        let full = try send("list-1", """
            {"version": 3, "cards": [{"card": "em4100:0F00271DA5", "role": "technician"},
              {"card": "iso14443a:04A1B2C3", "role": "customer", "expires_at": 1900000000, "supply_points": ["flat-1"]}]}
            """)
        #expect(full["status"] as? String == "done", "\(full)")
        #expect(full["device"] as? String == Self.gateway)
        #expect(full["message"] as? String == "authorization list version 3: 2 cards")
        let delta = try send("list-2", "{\"version\": 4, \"base\": 3, \"add\": [{\"card\": \"iso14443a:04112233\", \"role\": \"customer\"}], \"remove\": [\"em4100:0F00271DA5\"]}")
        #expect(delta["message"] as? String == "authorization list version 4: 2 cards", "\(delta)")
        let bad = try send("list-3", "{\"version\": 5, \"cards\": [{\"card\": \"em4100:0F00271DA5\", \"role\": \"admin\"}]}")
        #expect(bad["reason"] as? String == "bad_params")
        #expect(bad["message"] as? String == "params.cards[0].role must be \"technician\" or \"customer\"")
        let meter = try send("list-4", device: "flat-1", "{\"version\": 5, \"cards\": []}")
        #expect(meter["reason"] as? String == "unknown_device", "\(meter)")

        rig.stopAgent()
        try rig.startAgent()
        #expect(rig.agent?.stderr.contains("card authorization list version=4 cards=2") == true, "\(rig.agent?.stderr ?? "")")
        let stale = try send("list-5", "{\"version\": 4, \"cards\": []}")
        #expect(stale["status"] as? String == "rejected")
        #expect(stale["reason"] as? String == "stale_version")
        #expect(stale["message"] as? String == "version 4 is not newer than the gateway's list (version 4)")
        let wrongBase = try send("list-6", "{\"version\": 6, \"base\": 3, \"remove\": [\"iso14443a:04112233\"]}")
        #expect(wrongBase["reason"] as? String == "wrong_base", "\(wrongBase)")
        let next = try send("list-7", "{\"version\": 6, \"base\": 4, \"remove\": [\"iso14443a:04112233\"]}")
        #expect(next["message"] as? String == "authorization list version 6: 1 cards", "\(next)")
    }
}
