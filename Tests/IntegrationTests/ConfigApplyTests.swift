import Foundation
import Testing

/// A running agent takes new configs without a restart — signed on `<prefix>/config`, or from its
/// file on SIGHUP — through a health check: a config whose devices answer takes effect, one whose
/// devices do not is rolled back and the agent reads on with the old one. Nothing buffered is lost.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ConfigApplyTests {
    static let applySection = "apply: {health_deadline_s: 4, min_answering_percent: 100, keep: 3}"

    /// The rig's site with `edit` applied to its text.
    static func edited(_ rig: CommandTests.Rig, _ edit: (String) -> String) throws -> String {
        edit(try String(contentsOfFile: rig.site, encoding: .utf8))
    }

    /// The same site without the CJ/T 188 gas meter, and flat-1 polled every 2 s.
    static func withoutGasMeter(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("id: gas-3") }
            .joined(separator: "\n")
            .replacingOccurrences(of: "profile: generic-modbus-relay-meter, poll_interval: 1s}", with: "profile: generic-modbus-relay-meter, poll_interval: 2s}")
    }

    /// A site with one more Modbus meter at a unit nobody answers on.
    static func withSilentMeter(_ text: String) -> String {
        text.replacingOccurrences(of: "    store:", with: "")
            .replacingOccurrences(of: "\nstore:", with: "\n  - {id: nobody, bus: rs485, unit: 9, profile: generic-modbus-relay-meter, poll_interval: 1s}\nstore:")
    }

    static func configCommand(_ rig: CommandTests.Rig, id: String, yaml: String) throws -> String {
        let params = String(decoding: try JSONSerialization.data(withJSONObject: ["yaml": yaml]), as: UTF8.self)
        return try rig.sign(rig.command(id, device: CommandTests.gateway, action: "config.apply", params: params))
    }

    static func events(_ rig: CommandTests.Rig, _ type: String) -> [[String: Any]] {
        rig.results.records(on: CommandTests.prefix + "/events", key: "events").filter { $0["type"] as? String == type }
    }

    static func readings(_ rig: CommandTests.Rig, device: String) -> Int {
        rig.results.records(on: CommandTests.prefix + "/readings").filter { $0["device"] as? String == device }.count
    }

    /// Every sequence number from the first to the last one published arrived (readings, events
    /// and results share one sequence).
    static func expectNoGap(_ rig: CommandTests.Rig) {
        let topics = [("readings", "readings"), ("events", "events"), ("cmd/result", "results")]
        let seqs = Set(topics.flatMap { topic, key in
            rig.results.records(on: CommandTests.prefix + "/" + topic, key: key).compactMap { $0["seq"] as? Int }
        })
        guard let low = seqs.min(), let high = seqs.max() else {
            Issue.record("nothing published")
            return
        }
        let missing = (low...high).filter { !seqs.contains($0) }
        #expect(missing.isEmpty, "sequence numbers missing: \(missing.prefix(20))")
    }

    @Test func aSignedRemoteConfigIsCheckedAppliedOrRolledBackAndAnswered() throws {
        let rig = try CommandTests.Rig(siteExtra: Self.applySection)
        defer { rig.stop() }
        try rig.startAgent()
        let original = try String(contentsOfFile: rig.site, encoding: .utf8)
        let topic = CommandTests.prefix + "/config"

        // A config signed with a key the site does not know is refused and changes nothing.
        let otherKey = rig.dir.appendingPathComponent("other").path
        _ = try runCommand(Paths.meteragent, ["keys", "generate", "--out", otherKey])
        let good = Self.withoutGasMeter(original)
        let forged = try rig.sign(rig.command("cfg-forged", device: CommandTests.gateway, action: "config.apply",
                                              params: String(decoding: try JSONSerialization.data(withJSONObject: ["yaml": good]), as: UTF8.self)),
                                  key: otherKey + ".key")
        try rig.publish(forged, topic: topic)
        #expect(try rig.result("cfg-forged")["reason"] as? String == "bad_signature")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == original)

        // A config that does not validate: every error with its line and column.
        try rig.publish(try Self.configCommand(rig, id: "cfg-invalid", yaml: original.replacingOccurrences(of: "timeout_ms: 1000, retries: 1", with: "timeout_ms: fast, retries: 1")), topic: topic)
        let invalid = try rig.result("cfg-invalid")
        #expect(invalid["status"] as? String == "rejected" && invalid["reason"] as? String == "invalid_config")
        #expect((invalid["message"] as? String ?? "").contains("remote config cfg-invalid:"))

        // A good config: applied without a restart, written to the file, announced as an event.
        let pid = try #require(rig.agent?.pid)
        try rig.publish(try Self.configCommand(rig, id: "cfg-good", yaml: good), topic: topic)
        let applied = try rig.result("cfg-good", timeout: 30)
        #expect(applied["status"] as? String == "done", "\(applied)")
        let outcome = try #require(applied["config"] as? [String: Any])
        #expect(outcome["status"] as? String == "applied")
        #expect((outcome["changes"] as? [String] ?? []).contains("  - gas-3"), "\(outcome)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == good)
        #expect(rig.agent?.pid == pid && rig.agent?.process.isRunning == true)
        try rig.results.wait(timeout: 20, "config.applied") { _ in !Self.events(rig, "config.applied").isEmpty }
        #expect(Self.events(rig, "config.applied").first?["origin"] as? String == "remote")

        // A config whose new meter never answers: rolled back, the old config reads on.
        let failing = Self.withSilentMeter(good)
        try rig.publish(try Self.configCommand(rig, id: "cfg-silent", yaml: failing), topic: topic)
        let rolledBack = try rig.result("cfg-silent", timeout: 30)
        #expect(rolledBack["status"] as? String == "failed" && rolledBack["reason"] as? String == "health_check_failed", "\(rolledBack)")
        let message = rolledBack["message"] as? String ?? ""
        #expect(message.contains(" of 6 devices answering (6 needed)") && !message.contains("6 of 6"), "\(rolledBack)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == good)
        try rig.results.wait(timeout: 20, "config.rolled_back") { _ in !Self.events(rig, "config.rolled_back").isEmpty }
        let before = Self.readings(rig, device: "flat-1")
        try rig.results.wait(timeout: 20, "flat-1 read again after the rollback") { _ in Self.readings(rig, device: "flat-1") > before + 2 }

        // The same command again: its stored result, not a second apply.
        try rig.publish(try Self.configCommand(rig, id: "cfg-good", yaml: good), topic: topic)
        try rig.results.wait(timeout: 20, "the repeated result") { _ in rig.results(for: "cfg-good").count >= 2 }
        #expect(Self.events(rig, "config.applied").count == 1)

        // History beside the config file: the start, the applied one, the rolled-back one.
        let history = try runCommand(Paths.meteragent, ["config", "history", rig.site])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("applied") && history.stdout.contains("rolled back") && history.stdout.contains("remote"), "\(history.stdout)")
        rig.stopAgent()
        Self.expectNoGap(rig)
    }

    @Test func sighupReloadsTheFileAndRestoresItWhenTheNewConfigFails() throws {
        let rig = try CommandTests.Rig(siteExtra: Self.applySection)
        defer { rig.stop() }
        try rig.startAgent()
        let agent = try #require(rig.agent)
        let original = try String(contentsOfFile: rig.site, encoding: .utf8)

        let good = Self.withoutGasMeter(original)
        try good.write(toFile: rig.site, atomically: true, encoding: .utf8)
        kill(agent.pid, SIGHUP)
        try rig.results.wait(timeout: 30, "config.applied") { _ in !Self.events(rig, "config.applied").isEmpty }
        #expect(Self.events(rig, "config.applied").first?["origin"] as? String == "signal")
        let gasBefore = Self.readings(rig, device: "gas-3")
        let flatBefore = Self.readings(rig, device: "flat-1")
        try rig.results.wait(timeout: 20, "flat-1 read with the new config") { _ in Self.readings(rig, device: "flat-1") > flatBefore + 2 }
        #expect(Self.readings(rig, device: "gas-3") <= gasBefore + 1, "the removed meter is still polled")

        try Self.withSilentMeter(good).write(toFile: rig.site, atomically: true, encoding: .utf8)
        kill(agent.pid, SIGHUP)
        try rig.results.wait(timeout: 30, "config.rolled_back") { _ in !Self.events(rig, "config.rolled_back").isEmpty }
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == good, "the failed config is still in the file")
        #expect(agent.stderr.contains("health check failed"))
        let after = Self.readings(rig, device: "flat-1")
        try rig.results.wait(timeout: 20, "flat-1 read after the rollback") { _ in Self.readings(rig, device: "flat-1") > after + 2 }
        #expect(agent.process.isRunning)
        rig.stopAgent()
        Self.expectNoGap(rig)
    }

    @Test func configApplyOnTheGatewayTakesAGoodConfigRollsBackABadOneAndRollbackGoesBack() throws {
        let rig = try CommandTests.Rig(siteExtra: Self.applySection)
        defer { rig.stop() }
        try rig.startAgent()
        let original = try String(contentsOfFile: rig.site, encoding: .utf8)
        func candidate(_ name: String, _ text: String) throws -> String {
            let path = rig.dir.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        func meteragent(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runCommand(Paths.meteragent, arguments, timeout: 60)
        }
        let good = try candidate("good.yaml", Self.withoutGasMeter(original))
        let diff = try meteragent(["config", "diff", rig.site, good])
        #expect(diff.status == 0 && diff.stdout.contains("  - gas-3") && diff.stdout.contains("poll_interval_ms 1000 → 2000"), "\(diff)")

        // Invalid: refused here, before the agent hears of it.
        let invalid = try candidate("invalid.yaml", original.replacingOccurrences(of: "timeout_ms: 1000, retries: 1", with: "timeout_ms: fast, retries: 1"))
        let refused = try meteragent(["config", "apply", invalid, "--control-socket", rig.controlSocket])
        #expect(refused.status == 2 && refused.stderr.contains("invalid.yaml:"), "\(refused)")

        // Devices that do not answer: rolled back, exit 9, the old config reads on.
        let silent = try candidate("silent.yaml", Self.withSilentMeter(original))
        let rolledBack = try meteragent(["config", "apply", silent, "--control-socket", rig.controlSocket])
        #expect(rolledBack.status == 9 && rolledBack.stdout.contains("rolled_back (health_check_failed)"), "\(rolledBack)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == original)
        let before = Self.readings(rig, device: "gas-3")
        try rig.results.wait(timeout: 20, "gas-3 read again") { _ in Self.readings(rig, device: "gas-3") > before }

        // A good one: applied without a restart, in the file and the history; status shows it.
        let applied = try meteragent(["config", "apply", good, "--control-socket", rig.controlSocket])
        #expect(applied.status == 0 && applied.stdout.contains("\(rig.site): applied"), "\(applied)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == Self.withoutGasMeter(original))
        let status = try meteragent(["status", "--json", "--control-socket", rig.controlSocket])
        #expect(status.status == 0 && !status.stdout.contains("gas-3") && status.stdout.contains("flat-1"), "\(status)")

        // Rollback: back to the config the agent started with.
        let history = try meteragent(["config", "history", rig.site])
        #expect(history.stdout.contains("start") && history.stdout.contains("<- in the file now"), "\(history.stdout)")
        let back = try meteragent(["config", "rollback", rig.site, "--control-socket", rig.controlSocket])
        #expect(back.status == 0 && back.stdout.contains("rolling back to entry 1") && back.stdout.contains("applied"), "\(back)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == original)
        try rig.results.wait(timeout: 20, "the rollback's event") { _ in
            Self.events(rig, "config.applied").contains { $0["origin"] as? String == "rollback" }
        }
        #expect(Self.events(rig, "config.applied").filter { $0["origin"] as? String == "rollback" }.count == 1)
        #expect(rig.agent?.process.isRunning == true)

        // With the agent stopped, apply writes the file for the next start.
        rig.stopAgent()
        let offline = try meteragent(["config", "apply", good, "--config", rig.site, "--control-socket", rig.controlSocket])
        #expect(offline.status == 0 && offline.stdout.contains("no agent answers"), "\(offline)")
        #expect(try String(contentsOfFile: rig.site, encoding: .utf8) == Self.withoutGasMeter(original))
        Self.expectNoGap(rig)
    }
}
