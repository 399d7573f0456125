import Foundation
import Testing

/// Card readers end to end (issue 12): a simulated RDM6300 reader (`metersim`, a pty) guards a
/// simulated DL/T 645 meter with a relay; `meteragent run` decides cards from its local list,
/// switches the supply, and reports on `<prefix>/events` through a real mosquitto.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct CardTests {
    static let meter = "202611250301"
    static let customer = "0F00271DA5"
    static let technician = "1122334455"
    static let expired = "0A0B0C0D0E"
    static let stranger = "0102030405"

    final class Rig {
        let rig: CommandTests.Rig
        let link: String

        init() throws {
            // A link of our own: a reader plugged in again gets a new pty, and the link follows it.
            let linkDirectory = try Paths.temporaryDirectory()
            link = linkDirectory.appendingPathComponent("bay-reader").path
            rig = try CommandTests.Rig(
                scenarioLines: "  - {id: bay, protocol: rdm6300, baud: 9600, link: \(link)}\n  - {id: door, protocol: pn532, baud: 115200}\n",
                siteExtra: "readers:\n  - {id: bay-reader, type: rdm6300, port: \(link), supply_point: flat-3, debounce_ms: 300}\n")
            // The plant room's NFC reader (no supply point: technicians' badges only), on the pty
            // metersim printed.
            let door = try #require(rig.sim.lines["door"])
            try rig.appendToSite("""
                  - {id: door-nfc, type: pn532, port: \(door), debounce_ms: 300}
                cards: {id_privacy: clear, maintenance_window_s: 60}
                """)
        }

        var events: [[String: Any]] { rig.results.records(on: CommandTests.prefix + "/events", key: "events") }

        func events(_ type: String, reader: String? = nil) -> [[String: Any]] {
            events.filter { $0["type"] as? String == type && (reader == nil || $0["reader"] as? String == reader) }
        }

        func waitForEvents(_ type: String, reader: String? = nil, count: Int, timeout: Double = 15) throws -> [[String: Any]] {
            try rig.results.wait(timeout: timeout, "\(count) \(type) events") { _ in events(type, reader: reader).count >= count }
            return events(type, reader: reader)
        }

        /// A card held in the field for 0.3 s, then gone for longer than the debounce time.
        func present(_ uid: String) throws {
            #expect(try rig.sim.control("card bay \(uid) 0.3").hasSuffix("ok\n"))
            Thread.sleep(forTimeInterval: 0.8)
        }

        func updateList(_ id: String, _ params: String) throws {
            try rig.publish(try rig.sign(rig.command(id, device: CommandTests.gateway, action: "authlist.update", params: params)))
            let result = try rig.result(id)
            #expect(result["status"] as? String == "done", "\(result)")
        }

        var meterEnergy: Double { (try? rig.sim.state("dlt", CardTests.meter)["energy.import.total"]) ?? -1 }
        var relayOpen: Bool { (try? rig.sim.state("dlt", CardTests.meter)["relay.state"]) == 0 }

        func stop() { rig.stop() }
    }

    static func decimal(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }

    @Test func aCustomerCardMetersASessionUnknownAndExpiredCardsAreDeniedAndANewListActsAtOnce() throws {
        let card = try Rig()
        defer { card.stop() }
        let rig = card.rig
        try rig.startAgent()
        try card.updateList("list-1", """
            {"version": 1, "cards": [{"card": "em4100:\(Self.customer)", "role": "customer", "supply_points": ["flat-3"]},
              {"card": "em4100:\(Self.expired)", "role": "customer", "expires_at": 1700000000}]}
            """)
        // The supply starts cut, so the meter's register stands still between sessions.
        try rig.sim.control("set dlt \(Self.meter) power.active.total 60000")
        try rig.publish(try rig.sign(rig.command("cut", device: "flat-3", action: "relay.open")))
        #expect(try rig.result("cut")["status"] as? String == "done")
        #expect(card.relayOpen)
        let before = card.meterEnergy

        try card.present(Self.customer)
        let started = try card.waitForEvents("card.session.started", count: 1)[0]
        #expect(started["device"] as? String == "flat-3")
        #expect(started["card"] as? String == "em4100:\(Self.customer)")
        #expect(abs(Self.decimal(started["start"]) - before) < 0.011, "\(started) meter \(before)")
        #expect(!card.relayOpen)
        Thread.sleep(forTimeInterval: 2.5)
        try card.present(Self.customer)
        let session = try card.waitForEvents("card.session", count: 1)[0]
        #expect(session["reason"] as? String == "card", "\(session)")
        #expect(session["relay"] as? String == "done")
        #expect(card.relayOpen)
        let after = card.meterEnergy
        let (start, end, energy) = (Self.decimal(session["start"]), Self.decimal(session["end"]), Self.decimal(session["energy"]))
        // What the meter's registers said at both ends, and energy is their exact difference.
        #expect(abs(end - after) < 0.011, "\(session) meter \(after)")
        #expect(abs(energy - (end - start)) < 1e-9)
        #expect(energy > 0.02, "60 kW for over 2.5 s: \(session)")

        try card.present(Self.stranger)
        try card.present(Self.expired)
        try rig.results.wait("two denials") { _ in card.events("card.presented").filter { $0["decision"] as? String == "denied" }.count == 2 }
        let denied = card.events("card.presented").filter { $0["decision"] as? String == "denied" }
        #expect(denied.map { $0["reason"] as? String } == ["unknown", "expired"], "\(denied)")
        #expect(card.relayOpen)

        // A delta from the head-end: the stranger is let in without a restart.
        try card.updateList("list-2", "{\"version\": 2, \"base\": 1, \"add\": [{\"card\": \"em4100:\(Self.stranger)\", \"role\": \"customer\"}]}")
        try card.present(Self.stranger)
        #expect(try card.waitForEvents("card.session.started", count: 2)[1]["card"] as? String == "em4100:\(Self.stranger)")
        #expect(!card.relayOpen)
        #expect(card.events("card.presented").count == 5)
    }

    @Test func withTheBrokerAwayCardsAreStillDecidedAndTheirEventsArriveLater() throws {
        let card = try Rig()
        defer { card.stop() }
        let rig = card.rig
        try rig.startAgent()
        try card.updateList("list-1", "{\"version\": 1, \"cards\": [{\"card\": \"em4100:\(Self.customer)\", \"role\": \"customer\"}, {\"card\": \"em4100:\(Self.technician)\", \"role\": \"technician\"}]}")
        try rig.publish(try rig.sign(rig.command("cut", device: "flat-3", action: "relay.open")))
        #expect(try rig.result("cut")["status"] as? String == "done")

        rig.broker.stop()
        try card.present(Self.customer)
        try UplinkTests.waitFor("the relay closed by the card", timeout: 10) { !card.relayOpen }
        try card.present(Self.technician)
        try card.present(Self.stranger)
        try card.present(Self.customer)
        try UplinkTests.waitFor("the relay opened by the card", timeout: 10) { card.relayOpen }
        #expect(card.events("card.presented").isEmpty)

        try rig.broker.start()
        let presented = try card.waitForEvents("card.presented", count: 4, timeout: 30)
        #expect(presented.map { $0["decision"] as? String } == ["allowed", "allowed", "denied", "allowed"], "\(presented)")
        #expect(try card.waitForEvents("card.window.opened", count: 1).count == 1)
        #expect(try card.waitForEvents("card.session", count: 1)[0]["reason"] as? String == "card")
    }

    @Test func aReaderThatGoesAwayIsReportedAndReopenedWithoutARestart() throws {
        let card = try Rig()
        defer { card.stop() }
        let rig = card.rig
        try rig.startAgent()
        _ = try card.waitForEvents("reader.ready", reader: "bay-reader", count: 1)
        #expect(try rig.sim.control("unplug bay").hasSuffix("ok\n"))
        let lost = try card.waitForEvents("reader.lost", count: 1)[0]
        #expect(lost["reader"] as? String == "bay-reader")
        #expect((lost["reason"] as? String)?.isEmpty == false)
        #expect(try rig.sim.control("plug bay").hasSuffix("ok\n"))
        _ = try card.waitForEvents("reader.ready", reader: "bay-reader", count: 2, timeout: 20)
        try card.present(Self.stranger)
        let presented = try card.waitForEvents("card.presented", count: 1)[0]
        #expect(presented["reader"] as? String == "bay-reader")
        #expect(presented["reason"] as? String == "unknown")
        #expect(card.events("reader.lost").count == 1)
    }

    @Test func aTechniciansNFCBadgeOpensAndClosesAMaintenanceWindow() throws {
        let card = try Rig()
        defer { card.stop() }
        let rig = card.rig
        try rig.startAgent()
        let ready = try card.waitForEvents("reader.ready", reader: "door-nfc", count: 1)[0]
        #expect((ready["detail"] as? String)?.contains("PN532 v1.6") == true, "\(ready)")
        let badge = "04A1B2C3D4E5F6"
        try card.updateList("list-1", "{\"version\": 1, \"cards\": [{\"card\": \"iso14443a:\(badge)\", \"role\": \"technician\"}]}")
        for _ in 0..<2 {
            #expect(try rig.sim.control("card door \(badge) 0.4").hasSuffix("ok\n"))
            Thread.sleep(forTimeInterval: 1)
        }
        let opened = try card.waitForEvents("card.window.opened", count: 1)[0]
        #expect(opened["reader"] as? String == "door-nfc")
        #expect(opened["card"] as? String == "iso14443a:\(badge)")
        let closed = try card.waitForEvents("card.window.closed", count: 1)[0]
        #expect(closed["reason"] as? String == "badge", "\(closed)")
        let presented = card.events("card.presented", reader: "door-nfc")
        #expect(presented.map { $0["role"] as? String } == ["technician", "technician"], "\(presented)")
        // A customer card at a door without a supply point is no use.
        #expect(try rig.sim.control("card door 04112233 0.4").hasSuffix("ok\n"))
        try rig.results.wait("the denial") { _ in card.events("card.presented", reader: "door-nfc").count == 3 }
        #expect(card.events("card.presented", reader: "door-nfc")[2]["reason"] as? String == "unknown")
    }
}
