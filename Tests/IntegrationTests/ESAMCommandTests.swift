import Foundation
import Testing

/// `esam.forward` end to end, on the ESAM meter `prepaid-3` of `CommandTests`' rig (CSG profile,
/// no plaintext trip): blocks made by `Tests/Interop/esam_headend.py` (Python's hmac, not our
/// code) → signed command → mosquitto → agent → the meter's line → the simulated ESAM, and the
/// meter's raw replies back in the result.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ESAMCommandTests {
    static let key = "00112233445566778899AABBCCDDEEFF"
    static let meter = "202611250303"
    /// The scenario's `session_s`.
    static let sessionSeconds = 4.0

    /// esam.forward's params from the Python head-end.
    static func frames(_ options: [String]) throws -> String {
        let made = try runCommand(Paths.python, [Paths.interopScript("esam_headend.py"), "frames", "--key", key, "--address", meter,
                                                 "--password", "123456", "--operator", "00000303"] + options)
        guard made.status == 0 else { throw HarnessError("esam_headend.py: \(made.stderr)") }
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The simulated meter's relay from its `list` line (`… relay=relay open, command off …`); its
    /// profile has no relay point for `state`.
    static func relayOpen(_ rig: CommandTests.Rig) throws -> Bool? {
        guard let line = try rig.sim.control("list").split(separator: "\n").first(where: { $0.contains("address=\(meter)") }) else { return nil }
        if line.contains("relay=relay open") { return true }
        return line.contains("relay=relay closed") ? false : nil
    }

    static func replies(_ result: [String: Any]) -> [[String: Any]] { result["replies"] as? [[String: Any]] ?? [] }

    static func controls(_ result: [String: Any]) -> [String] { replies(result).compactMap { $0["control"] as? String } }

    func forward(_ rig: CommandTests.Rig, _ id: String, _ options: [String]) throws -> [String: Any] {
        try rig.publish(try rig.sign(rig.command(id, device: "prepaid-3", action: "esam.forward", params: try Self.frames(options))))
        return try rig.result(id)
    }

    @Test func aPlaintextTripIsNotOfferedAndForwardedFramesTripTheMeter() throws {
        let rig = try CommandTests.Rig()
        defer { rig.stop() }
        try rig.startAgent()
        try rig.sim.control("set dlt \(Self.meter) power.active.total 2000")

        try rig.publish(try rig.sign(rig.command("plain-trip", device: "prepaid-3", action: "relay.open")))
        let plain = try rig.result("plain-trip")
        #expect(plain["status"] as? String == "rejected" && plain["reason"] as? String == "unsupported_action", "\(plain)")
        #expect((plain["message"] as? String)?.contains("esam.forward") == true, "the message lists what the meter supports")

        let result = try forward(rig, "esam-trip", ["--action", "trip"])
        #expect(result["status"] as? String == "done", "\(result)")
        #expect(result["reason"] == nil)
        #expect(Self.controls(result) == ["83", "9C"])
        let authentication = try #require(Self.replies(result).first)
        #expect((authentication["data"] as? String)?.hasPrefix("FF000007") == true && (authentication["data"] as? String)?.count == 32)
        #expect((result["message"] as? String)?.contains("identity authentication accepted") == true)
        #expect(CommandTests.observed(result)["relay.open"] as? Bool == true)
        // The meter really switched: its relay is open and it meters nothing.
        #expect(try Self.relayOpen(rig) == true)
        #expect(try rig.sim.state("dlt", Self.meter)["power.active.total"] == 0)
        let energy = try rig.sim.state("dlt", Self.meter)["energy.import.total"]
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try rig.sim.state("dlt", Self.meter)["energy.import.total"] == energy)
        #expect(rig.agent?.stderr.contains("command command.id=esam-trip device.id=prepaid-3 action=esam.forward status=done") == true)

        // Reconnecting works in plaintext on this meter (direct close at level 03).
        try rig.publish(try rig.sign(rig.command("reclose", device: "prepaid-3", action: "relay.close")))
        #expect(try rig.result("reclose")["status"] as? String == "done")
        #expect(try Self.relayOpen(rig) == false)
    }

    @Test func aWrongMACIsTheMetersRefusalWithItsRawReply() throws {
        let rig = try CommandTests.Rig()
        defer { rig.stop() }
        try rig.startAgent()
        let result = try forward(rig, "esam-bad-mac", ["--action", "trip", "--bad-mac"])
        #expect(result["status"] as? String == "failed" && result["reason"] as? String == "meter_refused", "\(result)")
        #expect(Self.controls(result) == ["83", "DC"])
        let refusal = try #require(Self.replies(result).last)
        #expect(refusal["data"] as? String == "0200")
        #expect(refusal["error"] as? String == "error word 0002: MAC check failed")
        #expect((result["message"] as? String)?.contains("frame 2 (0x1C): relay control refused") == true)
        #expect(CommandTests.observed(result)["relay.open"] as? Bool == false)
        #expect(try Self.relayOpen(rig) == false)
    }

    @Test func anEncryptedCommandWithoutOrAfterItsSessionIsRefused() throws {
        let rig = try CommandTests.Rig()
        defer { rig.stop() }
        try rig.startAgent()
        // No authentication at all.
        let absent = try forward(rig, "esam-no-session", ["--only", "control"])
        #expect(absent["status"] as? String == "failed" && absent["reason"] as? String == "meter_refused", "\(absent)")
        #expect(Self.replies(absent).map { $0["control"] as? String } == ["DC"])
        #expect(Self.replies(absent).first?["data"] as? String == "0800")

        // An authentication on its own is done; its session then runs out.
        let random = "A1A2A3A4A5A6A7A8"
        let authenticated = try forward(rig, "esam-auth", ["--only", "auth", "--random", random])
        #expect(authenticated["status"] as? String == "done", "\(authenticated)")
        #expect(Self.controls(authenticated) == ["83"])
        Thread.sleep(forTimeInterval: Self.sessionSeconds + 1)
        let expired = try forward(rig, "esam-expired", ["--only", "control", "--random", random])
        #expect(expired["status"] as? String == "failed" && expired["reason"] as? String == "meter_refused", "\(expired)")
        #expect(Self.replies(expired).first?["error"] as? String == "error word 0008: identity authentication timed out or missing")
        #expect(try Self.relayOpen(rig) == false)

        // Within a session the command may follow in a command of its own (as real meters need, whose
        // encrypted command depends on the random 2 of the authentication's reply).
        let fresh = "B1B2B3B4B5B6B7B8"
        #expect(try forward(rig, "esam-auth-2", ["--only", "auth", "--random", fresh])["status"] as? String == "done")
        let tripped = try forward(rig, "esam-trip-2", ["--only", "control", "--random", fresh])
        #expect(tripped["status"] as? String == "done", "\(tripped)")
        #expect(try Self.relayOpen(rig) == true)
    }
}
