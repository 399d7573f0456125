import Foundation
import Testing

/// Local cost control end to end (issue 11, "Local cost control (prepaid)"): `metersim` meters
/// with pinned consumption, `meteragent run` keeping their balances, a real mosquitto, signed
/// `credit.add` / `tariff.set` from `meteragent sign`, events on `<prefix>/events`.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct PrepaidTests {
    static let prefix = CommandTests.prefix

    /// flat-1 runs out in seconds at 50 kW and 2 per kWh; flat-2 likewise but is protected; main
    /// is prepaid by the head-end (remote).
    static let devices = [
        "flat-1": ", cost_control: {mode: local, tariff: {flat: 2}, low_credit: 0.1, initial_balance: 0.2}",
        "flat-2": ", cost_control: {mode: local, tariff: {flat: 2}, low_credit: 0.1, initial_balance: 0.05}",
        "main": ", cost_control: remote",
    ]

    static func events(_ rig: CommandTests.Rig, _ device: String) -> [[String: Any]] {
        rig.results.records(on: prefix + "/events", key: "events").filter { $0["device"] as? String == device }
    }

    static func event(_ rig: CommandTests.Rig, _ device: String, type: String, alarm: String? = nil) -> [String: Any]? {
        events(rig, device).first { $0["type"] as? String == type && (alarm == nil || $0["alarm"] as? String == alarm) }
    }

    /// The text of `"credit.balance":N` in the result of `id`, as the agent wrote it (exact digits).
    static func balanceText(_ rig: CommandTests.Rig, result id: String) -> String? {
        for message in rig.results.messages where message.topic == prefix + "/cmd/result" {
            guard let at = message.payload.range(of: "\"id\":\"\(id)\"") else { continue }
            guard let key = message.payload.range(of: "\"credit.balance\":", range: at.upperBound..<message.payload.endIndex) else { return nil }
            return String(message.payload[key.upperBound...].prefix { $0 == "-" || $0 == "." || $0.isNumber })
        }
        return nil
    }

    @Test func creditRunsOutTheSupplyIsCutACreditRestoresItAndTheBalanceSurvivesAKill() throws {
        let rig = try CommandTests.Rig(deviceExtra: Self.devices)
        defer { rig.stop() }
        try rig.startAgent()
        try rig.sim.control("set rs485 1 power.active.total 50000")
        try rig.sim.control("set rs485 2 power.active.total 50000")

        // Low credit first, then the cut through the profile's relay.open, read back.
        try rig.results.wait(timeout: 40, "flat-1's cut") { _ in Self.event(rig, "flat-1", type: "credit.disconnect") != nil }
        let low = try #require(Self.event(rig, "flat-1", type: "alarm.raised", alarm: "credit.low"))
        #expect(low["threshold"] as? Double == 0.1)
        #expect((low["value"] as? Double ?? 1) <= 0.1)
        let cut = try #require(Self.event(rig, "flat-1", type: "credit.disconnect"))
        #expect(cut["status"] as? String == "done", "\(cut)")
        #expect(cut["action"] as? String == "relay.open")
        #expect((cut["observed"] as? [String: Any])?["relay.state"] as? Bool == false)
        #expect((cut["balance"] as? Double ?? 1) <= 0)
        let order = Self.events(rig, "flat-1").compactMap { $0["type"] as? String }
        #expect(order.firstIndex(of: "alarm.raised") ?? 99 < order.firstIndex(of: "credit.disconnect") ?? -1, "\(order)")
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 0)
        #expect(rig.agent?.stderr.contains("event=credit.disconnect action=relay.open status=done") == true)

        // The protected meter gets an alarm instead, and keeps its supply.
        try rig.results.wait(timeout: 20, "flat-2's alarm") { _ in
            Self.event(rig, "flat-2", type: "alarm.raised", alarm: "credit.exhausted") != nil
        }
        #expect(Self.event(rig, "flat-2", type: "credit.disconnect") == nil)
        #expect(try rig.sim.state("rs485", 2)["relay.state"] == 1)

        // Consumption stopped on flat-1 (after the last few Wh metered before the relay opened) and
        // goes on on flat-2.
        Thread.sleep(forTimeInterval: 2.5)
        let before = (try rig.sim.state("rs485", 1)["energy.import.total"], try rig.sim.state("rs485", 2)["energy.import.total"])
        Thread.sleep(forTimeInterval: 2)
        let after = (try rig.sim.state("rs485", 1)["energy.import.total"], try rig.sim.state("rs485", 2)["energy.import.total"])
        #expect(before.0 == after.0)
        #expect((after.1 ?? 0) > (before.1 ?? 0))

        // tariff.set answers with the balance; it is saved with it.
        try rig.publish(try rig.sign(rig.command("tariff-1", device: "flat-1", action: "tariff.set",
                                                 params: "{\"periods\":[{\"from\":\"00:00\",\"to\":\"12:00\",\"price\":2},{\"from\":\"12:00\",\"to\":\"24:00\",\"price\":2}]}")))
        let tariff = try rig.result("tariff-1")
        #expect(tariff["status"] as? String == "done", "\(tariff)")
        let saved = try #require(Self.balanceText(rig, result: "tariff-1"))
        #expect(Decimal(string: saved).map { $0 <= 0 } == true, "\(saved)")

        // kill -9 and a new agent: the balance, and that the agent cut the supply, are still known.
        let onlineBefore = rig.results.messages.filter { $0.topic == Self.prefix + "/status" && $0.payload.contains("online") }.count
        rig.agent?.stop(signal: SIGKILL)
        try rig.startAgent()
        try rig.results.wait(timeout: 20, "the new agent online") { sub in
            sub.messages.filter { $0.topic == Self.prefix + "/status" && $0.payload.contains("online") }.count > onlineBefore
        }
        try rig.publish(try rig.sign(rig.command("credit-1", device: "flat-1", action: "credit.add", params: "{\"amount\":1}")))
        let credit = try rig.result("credit-1")
        #expect(credit["status"] as? String == "done", "\(credit)")
        let credited = try #require(Self.balanceText(rig, result: "credit-1"))
        #expect(Decimal(string: credited) == Decimal(string: saved)! + 1, "\(saved) + 1 = \(credited), to the digit")

        // The credit brought the balance above zero: the agent restores the supply it cut.
        try rig.results.wait(timeout: 20, "flat-1's restore") { _ in Self.event(rig, "flat-1", type: "credit.reconnect") != nil }
        let restore = try #require(Self.event(rig, "flat-1", type: "credit.reconnect"))
        #expect(restore["status"] as? String == "done", "\(restore)")
        #expect(try rig.sim.state("rs485", 1)["relay.state"] == 1)
        let creditEvent = Self.events(rig, "flat-1").first { $0["reason"] as? String == "credit" }
        #expect(creditEvent?["command"] as? String == "credit-1")
        #expect(creditEvent?["amount"] as? Double == 1)
        #expect(Self.event(rig, "flat-1", type: "alarm.cleared", alarm: "credit.low") != nil)

        // A re-delivered credit is answered from the command log and never credited twice.
        try rig.publish(try rig.sign(rig.command("credit-1", device: "flat-1", action: "credit.add", params: "{\"amount\":1}")))
        try rig.results.wait("the repeated credit's result") { _ in rig.results(for: "credit-1").count == 2 }
        #expect(rig.results(for: "credit-1")[1]["repeated"] as? Bool == true)
        #expect(Self.events(rig, "flat-1").filter { $0["reason"] as? String == "credit" }.count == 1)

        // Balance events are bounded: a poll a second for the whole test, yet only the transitions.
        let kinds = Self.events(rig, "flat-1").map { [$0["type"], $0["reason"], $0["alarm"], $0["status"]].compactMap { $0 as? String }.joined(separator: " ") }
        #expect(kinds == ["credit.balance initial", "alarm.raised credit.low", "credit.disconnect done", "credit.balance tariff",
                          "credit.balance credit", "alarm.cleared credit.low", "credit.reconnect done"], "\(kinds)")

        // With cost_control: remote the head-end keeps the balance.
        try rig.publish(try rig.sign(rig.command("credit-main", device: "main", action: "credit.add", params: "{\"amount\":1}")))
        let remote = try rig.result("credit-main")
        #expect(remote["status"] as? String == "rejected")
        #expect(remote["reason"] as? String == "unsupported_action")
    }
}
