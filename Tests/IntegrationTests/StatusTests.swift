import Foundation
import Testing

/// Issue 13, "`meteragent status`": the running agent answers on its control socket (mode 0600)
/// with what it sees of buses, devices, card readers, store and uplink. The plant of
/// `CommandTests` with one dead meter (`flat-2`, no reply from the start) and an RDM6300 reader.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StatusTests {
    static let card = "0F00271DA5"

    static func rig() throws -> CommandTests.Rig {
        let link = try Paths.temporaryDirectory().appendingPathComponent("bay-reader").path
        let rig = try CommandTests.Rig(
            scenarioLines: "  - {id: bay, protocol: rdm6300, baud: 9600, link: \(link)}\n",
            siteExtra: "readers:\n  - {id: bay-reader, type: rdm6300, port: \(link), supply_point: flat-3, debounce_ms: 300}\ncards: {id_privacy: mask}\n")
        #expect(try rig.sim.control("fault rs485 2 no_reply on").contains("ok"))
        return rig
    }

    static func status(_ socket: String, _ options: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try runCommand(Paths.meteragent, ["status", "--control-socket", socket] + options)
    }

    /// `status --json` as a dictionary, and its devices by id.
    static func json(_ socket: String) throws -> (root: [String: Any], devices: [String: [String: Any]]) {
        let result = try status(socket, ["--json"])
        guard result.status == 0, let root = jsonLines(result.stdout).first else {
            throw HarnessError("status --json exited \(result.status): \(result.stderr) \(result.stdout)")
        }
        let devices = (root["devices"] as? [[String: Any]] ?? []).reduce(into: [String: [String: Any]]()) { $0[$1["id"] as? String ?? "?"] = $1 }
        return (root, devices)
    }

    static func int(_ value: Any?) -> Int { (value as? NSNumber)?.intValue ?? -1 }

    @Test func statusShowsTheDeadMeterAsDeadWithItsCountersAndTheOthersOK() throws {
        let help = try runCommand(Paths.meteragent, ["--help"])
        #expect(help.stdout.contains("  status "), "\(help.stdout)")
        let rig = try Self.rig()
        defer { rig.stop() }
        let socket = rig.controlSocket
        try rig.startAgent()

        // Owner-only: a socket file with mode 0600, and another user cannot talk to it.
        let attributes = try FileManager.default.attributesOfItem(atPath: socket)
        #expect(attributes[.type] as? FileAttributeType == .typeSocket)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(attributes)")
        let stranger = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                           Paths.meteragent, "status", "--control-socket", socket])
        #expect(stranger.status == 7, "\(stranger.stderr)")
        #expect(stranger.stderr.contains("Permission denied"), "\(stranger.stderr)")

        // Dead: no good reading in 3 polls of 1 s (each costing 2 s of timeouts until the back-off).
        var snapshot = try Self.json(socket)
        try UplinkTests.waitFor("flat-2 dead and every other device read", timeout: 40) {
            snapshot = (try? Self.json(socket)) ?? snapshot
            return snapshot.devices["flat-2"]?["state"] as? String == "dead"
                && ["flat-1", "flat-3", "prepaid-3", "gas-3", "main"].allSatisfy { snapshot.devices[$0]?["state"] as? String == "ok" }
        }
        let dead = try #require(snapshot.devices["flat-2"])
        #expect(Self.int(dead["timeouts"]) > 0, "\(dead)")
        #expect(Self.int(dead["successes"]) == 0, "\(dead)")
        #expect(dead["last_good_read"] is NSNull, "\(dead)")
        #expect(Self.int(dead["bad_polls_in_a_row"]) >= 3, "\(dead)")
        #expect(Self.int(dead["backoff_skips"]) > 0, "a dead meter backs off: \(dead)")
        #expect(dead["last_quality"] as? String == "timeout" || dead["last_quality"] as? String == "backoff", "\(dead)")
        for id in ["flat-1", "flat-3", "prepaid-3", "gas-3", "main"] {
            let device = try #require(snapshot.devices[id])
            #expect(Self.int(device["successes"]) > 0, "\(id): \(device)")
            #expect(Self.int(device["timeouts"]) == 0, "\(id): \(device)")
            let lastGood = try #require(device["last_good_read"] as? String, "\(id): \(device)")
            #expect(lastGood.hasSuffix("Z") && lastGood.hasPrefix("20"), "\(lastGood)")
            #expect(((device["last_good_read_age_s"] as? NSNumber)?.doubleValue ?? 99) < 10, "\(id): \(device)")
        }
        // The dead meter's line: its timeouts, and the time they took.
        let buses = (snapshot.root["buses"] as? [[String: Any]] ?? []).reduce(into: [String: [String: Any]]()) { $0[$1["id"] as? String ?? "?"] = $1 }
        let rs485 = try #require(buses["rs485"])
        #expect(Self.int(rs485["timeouts"]) >= Self.int(dead["timeouts"]), "\(rs485)")
        #expect(Self.int(rs485["successes"]) == Self.int(snapshot.devices["flat-1"]?["successes"]), "\(rs485)")
        #expect(((rs485["utilisation"] as? NSNumber)?.doubleValue ?? 0) > 0.05, "\(rs485)")
        #expect(rs485["state"] as? String == "open")
        #expect(rs485["last_good_read"] is String, "flat-1 on the same line answers: \(rs485)")
        #expect(rs485["queue_depth"] is NSNumber)
        let store = try #require(snapshot.root["store"] as? [String: Any])
        #expect(store["path"] as? String == rig.dir.path + "/outbox.db")
        #expect(store["last_commit"] is String, "\(store)")
        let uplink = try #require(snapshot.root["uplink"] as? [String: Any])
        #expect(uplink["connected"] as? Bool == true, "\(uplink)")
        #expect(Self.int(uplink["last_acked_seq"]) > 0, "\(uplink)")

        // The card reader: ready, and the last card as the site's privacy writes it.
        #expect(try rig.sim.control("card bay \(Self.card) 0.3").hasSuffix("ok\n"))
        try UplinkTests.waitFor("the card in the status") {
            let readers = (try? Self.json(socket).root["readers"] as? [[String: Any]]) ?? nil
            return readers?.first?["last_card"] as? String == "em4100:******1DA5"
        }
        let reader = try #require(try Self.json(socket).root["readers"] as? [[String: Any]]).first ?? [:]
        #expect(reader["state"] as? String == "ready", "\(reader)")
        #expect(reader["last_card_at"] is String, "\(reader)")

        // The technician's tables.
        let plain = try Self.status(socket)
        #expect(plain.status == 0, "\(plain.stderr)")
        let row = try #require(plain.stdout.split(separator: "\n").first { $0.hasPrefix("flat-2 ") }, "\(plain.stdout)")
        let words = row.split(separator: " ")
        #expect(words.contains("dead") && words.contains("never"), "\(row)")
        #expect(words[6] == "0" && Int(words[7]) ?? 0 > 0, "successes 0, timeouts > 0: \(row)")
        let ok = try #require(plain.stdout.split(separator: "\n").first { $0.hasPrefix("flat-1 ") })
        #expect(ok.contains(" ok ") && ok.contains("ago"), "\(ok)")
        #expect(plain.stdout.contains("bay-reader") && plain.stdout.contains("em4100:******1DA5"), "\(plain.stdout)")
        #expect(plain.stdout.contains("uplink  127.0.0.1:\(rig.broker.port): connected"), "\(plain.stdout)")

        // --watch repeats (plain blocks when stdout is not a terminal).
        let watcher = try ChildProcess(Paths.meteragent, ["status", "--control-socket", socket, "--watch", "--interval", "0.3"])
        try watcher.waitForLine(timeout: 10) { _ in watcher.stdout.components(separatedBy: "meteragent 0.").count > 3 }
        watcher.stop(signal: SIGINT)

        // A second agent on the same socket refuses to start, and the first one still answers.
        let second = try runCommand(Paths.meteragent, ["run", rig.site, "--control-socket", socket], timeout: 20)
        #expect(second.status == 8, "\(second.stderr)")
        #expect(second.stderr.contains("another agent is answering on the control socket \(socket)"), "\(second.stderr)")
        #expect(try Self.status(socket, ["--json"]).status == 0)

        // scan and commission keep off a line the agent polls (its rate would be changed under it).
        let line = try #require(rig.sim.lines["rs485"])
        let scan = try runCommand(Paths.meteragent, ["scan", "--port", line, "--bauds", "9600", "--units", "1", "--control-socket", socket])
        #expect(scan.status == 3 && scan.stderr.contains("the running agent polls \(line) (bus rs485)"), "\(scan)")
        let commission = try runCommand(Paths.meteragent, ["commission", "--port", line, "--profile", "generic-modbus-relay-meter",
                                                           "--new-unit", "9", "--control-socket", socket])
        #expect(commission.status == 3 && commission.stderr.contains("the running agent polls"), "\(commission)")

        // Killed, the agent leaves its socket file behind: nobody answers, and the next agent replaces it.
        rig.agent?.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: socket))
        let none = try Self.status(socket)
        #expect(none.status == 7)
        #expect(none.stderr.contains("no agent is listening on \(socket) — is meteragent running?"), "\(none.stderr)")
        try rig.startAgent()
        #expect(try Self.status(socket, ["--json"]).status == 0)
        // A clean stop removes it (the poll of the dead meter in flight ends with its timeouts first).
        let agent = try #require(rig.agent)
        kill(agent.pid, SIGTERM)
        #expect(agent.wait(timeout: 25) == 0, "\(agent.stderr.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: socket), "\(agent.stderr.suffix(2000))")
        #expect(try Self.status(socket).status == 7)
    }
}
