import Foundation
import Testing

/// Alarms and events from the meters (issue 11), end to end as separate processes: a condition
/// raised on `metersim`'s control channel → the meter's bytes → `meteragent run` (poll, detect,
/// store) → mosquitto on 127.0.0.1 → `mosquitto_sub` on `<prefix>/events`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EventTests {
    static let gateway = "gw-events"
    static let prefix = "meteragent/gw-events"
    static let pollMs = 1000

    /// A Modbus gas meter, a CJ/T 188 gas meter and a DL/T 645 electricity meter, one line each.
    static let scenario = """
    lines:
      - id: rs485
        baud: 9600
        devices:
          - {unit: 20, profile: generic-modbus-gas, model: gas, set: {pressure: 2.1}}
      - id: cjt
        protocol: cjt188
        baud: 9600
        devices:
          - {address: "00000000301003", profile: cjt188-gas, model: gas}
      - id: dlt
        protocol: dlt645
        baud: 9600
        devices:
          - {address: "202611250301", profile: dlt645-2007-generic, model: electricity}

    """

    /// The broker, the simulator, a subscriber to the events and an agent polling every second.
    final class Rig {
        let broker: Broker
        let sim: Simulator
        let sub: Subscriber
        let agent: ChildProcess
        let dir: URL

        init(alarms: String = "") throws {
            broker = try Broker()
            sim = try Simulator(scenario: EventTests.scenario)
            dir = try Paths.temporaryDirectory()
            sub = try Subscriber(broker: broker, topic: EventTests.prefix + "/events")
            let rs485 = try #require(sim.lines["rs485"]), cjt = try #require(sim.lines["cjt"]), dlt = try #require(sim.lines["dlt"])
            let site = try writeSite("""
            gateway: \(EventTests.gateway)
            buses:
              - {id: rs485, type: serial, port: \(rs485), baud: 9600, parity: none, timeout_ms: 400, retries: 0}
              - {id: cjt, type: serial, port: \(cjt), baud: 9600, parity: none, protocol: cjt188, timeout_ms: 400, retries: 0}
              - {id: dlt, type: serial, port: \(dlt), baud: 9600, parity: none, protocol: dlt645, timeout_ms: 400, retries: 0}
            devices:
              - id: gas
                bus: rs485
                unit: 20
                profile: generic-modbus-gas
                poll_interval: \(EventTests.pollMs)ms
            \(alarms)
              - {id: cgas, bus: cjt, address: "00000000301003", profile: cjt188-gas, poll_interval: \(EventTests.pollMs)ms}
              - {id: elec, bus: dlt, address: "202611250301", profile: dlt645-2007-generic, poll_interval: \(EventTests.pollMs)ms}
            store: {path: \(dir.path)/outbox.db, flush_interval: 1s}
            mqtt:
              host: 127.0.0.1
              port: \(broker.port)
              reconnect: {min_ms: 200, max_ms: 1000}
            """, in: dir)
            // --stdout: the readings as JSON lines too, so the test knows what each poll saw.
            agent = try ChildProcess(Paths.meteragent, ["run", site, "--stdout"])
        }

        /// Waits until `polls` polls of `device` have read `point` with `value` (as JSON text).
        func waitForReading(_ device: String, _ point: String, _ value: String, polls: Int = 1, timeout: Double = 15) throws {
            let wanted = "\"device\":\"\(device)\",\"point\":\"\(point)\",\"value\":\(value),"
            func read(_ line: Substring) -> Bool { line.contains(wanted) && line.contains("\"quality\":\"good\"") }
            let deadline = Date().addingTimeInterval(timeout)
            while agent.stdout.split(separator: "\n").count(where: read) < polls {
                guard agent.process.isRunning else { throw HarnessError("meteragent exited: \(agent.stderr.suffix(2000))") }
                guard Date() < deadline else { throw HarnessError("timed out waiting for \(polls) readings \(wanted); stdout: \(agent.stdout.suffix(2000))") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        /// The events received so far, in arrival order.
        var events: [[String: Any]] { sub.records(on: EventTests.prefix + "/events", key: "events") }

        func events(_ device: String, _ point: String) -> [[String: Any]] {
            events.filter { $0["device"] as? String == device && $0["point"] as? String == point }
        }

        func stop() {
            agent.stop()
            sub.stop()
            sim.stop()
            broker.remove()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Raises a condition and waits for its event; returns the event and how long it took.
    static func expectEvent(_ rig: Rig, control command: String, device: String, point: String, to: Bool) throws -> [String: Any] {
        let before = rig.events(device, point).count
        let sent = nowMs
        #expect(try rig.sim.control(command).contains("ok"))
        try rig.sub.wait(timeout: 10, "\(point) of \(device) after '\(command)'") { _ in rig.events(device, point).count > before }
        let arrived = nowMs
        let event = rig.events(device, point)[before]
        #expect(event["type"] as? String == "state.changed")
        #expect(event["to"] as? Bool == to && event["from"] as? Bool == !to, "\(event)")
        // Within one poll: the meter is read at most one interval after the change, the event is
        // committed and forwarded at once (slack for a loaded two-core machine).
        let ts = try #require(event["ts"] as? Int)
        #expect(Int64(ts) - sent <= Int64(pollMs) + 1000, "read \(Int64(ts) - sent) ms after the change")
        #expect(arrived - sent <= Int64(pollMs) + 3000, "arrived \(arrived - sent) ms after the change")
        return event
    }

    @Test func aGasLeakAValveFaultAndATamperReachTheHeadEndWithinOnePoll() throws {
        let rig = try Rig()
        defer { rig.stop() }
        // Baselines first: the first reading of each state is not a change.
        // One more poll of each after its baseline, so that an event from a baseline would have
        // had time to reach the head-end.
        try rig.waitForReading("gas", "gas.leak", "false", polls: 2)
        try rig.waitForReading("cgas", "meter.status_word", "0", polls: 2)
        try rig.waitForReading("elec", "relay.status_word", "0", polls: 2)
        #expect(rig.events.isEmpty, "no events from baselines: \(rig.events)")

        // Modbus gas meter: the leak alarm input (discrete 1).
        let leak = try Self.expectEvent(rig, control: "raise rs485 20 leak", device: "gas", point: "gas.leak", to: true)
        let keys = Set(leak.keys)
        #expect(keys == ["seq", "type", "ts", "device", "point", "from", "to"], "\(leak)")
        // CJ/T 188 gas meter: valve fault (ST valve bits 11) and leak (vendor bit 8).
        _ = try Self.expectEvent(rig, control: "raise cjt 00000000301003 valve_fault", device: "cgas", point: "valve.fault", to: true)
        _ = try Self.expectEvent(rig, control: "raise cjt 00000000301003 leak", device: "cgas", point: "gas.leak", to: true)
        // DL/T 645: the relay opened by hand (status word 3 bit 4), the meter-reading battery (status word 1 bit 3).
        _ = try Self.expectEvent(rig, control: "set dlt 202611250301 relay.state 0", device: "elec", point: "relay.open", to: true)
        _ = try Self.expectEvent(rig, control: "raise dlt 202611250301 battery_low", device: "elec", point: "battery.low", to: true)
        // Tamper: a cover opened on the Modbus meter; DL/T 645 counts it.
        _ = try Self.expectEvent(rig, control: "raise rs485 20 tamper", device: "gas", point: "tamper.cover", to: true)
        #expect(try rig.sim.control("raise dlt 202611250301 tamper").contains("ok"))
        try rig.sub.wait(timeout: 10, "the cover-open count") { _ in !rig.events("elec", "tamper.cover_count").isEmpty }
        let count = try #require(rig.events("elec", "tamper.cover_count").first)
        #expect(count["from"] as? Int == 0 && count["to"] as? Int == 1, "\(count)")
        // And back.
        _ = try Self.expectEvent(rig, control: "clear rs485 20 leak", device: "gas", point: "gas.leak", to: false)

        // A few more polls: nothing is reported twice.
        let seen = rig.events.count
        Thread.sleep(forTimeInterval: Double(Self.pollMs) * 2.5 / 1000)
        #expect(rig.events.count == seen, "\(rig.events.suffix(rig.events.count - seen))")
        rig.agent.stop()
        #expect(rig.agent.process.terminationStatus == 0, "\(rig.agent.stderr.suffix(2000))")
        let log = rig.agent.stderr
        #expect(log.components(separatedBy: "state changed device.id=gas point=gas.leak from=false to=true").count - 1 == 1,
                "each event logged once: \(log.suffix(3000))")
        // Events are class 0 records with gateway-wide sequence numbers, in the events batch format.
        for batch in rig.sub.batches(on: Self.prefix + "/events") {
            #expect(batch["gateway"] as? String == Self.gateway)
            let seqs = (batch["events"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int }
            #expect(!seqs.isEmpty && batch["first_seq"] as? Int == seqs.first && batch["last_seq"] as? Int == seqs.last)
        }
    }

    @Test func aPressureAlarmIsRaisedOnceAndClearedWithHysteresis() throws {
        let rig = try Rig(alarms: """
                alarms:
                  - {name: gas.pressure.low,  point: pressure, below: 1.5, clear_above: 1.7}
                  - {name: gas.pressure.high, point: pressure, above: 3.0, clear_below: 2.8}
            """)
        defer { rig.stop() }
        try rig.waitForReading("gas", "pressure", "2.1")
        // Down past the low threshold, wobbling in the hysteresis band (still active), back up.
        for value in ["1.2", "1.6", "1.4", "1.65", "1.8", "2.1"] {
            #expect(try rig.sim.control("set rs485 20 pressure \(value)").contains("ok"))
            try rig.waitForReading("gas", "pressure", value)
        }
        try rig.sub.wait(timeout: 10, "the alarm to clear") { _ in rig.events.contains { $0["type"] as? String == "alarm.cleared" } }
        let alarms = rig.events.filter { ($0["type"] as? String)?.hasPrefix("alarm.") == true }
        #expect(alarms.map { "\($0["type"]!) \($0["alarm"]!) \($0["value"]!) \($0["threshold"]!)" } == [
            "alarm.raised gas.pressure.low 1.2 1.5",
            "alarm.cleared gas.pressure.low 1.8 1.7",
        ], "\(alarms)")
        let raised = try #require(alarms.first)
        #expect(Set(raised.keys) == ["seq", "type", "ts", "device", "point", "alarm", "value", "threshold"])
        #expect(raised["device"] as? String == "gas" && raised["point"] as? String == "pressure")
        // The raw payload keeps the threshold as written in the config.
        let raw = rig.sub.messages.filter { $0.topic == Self.prefix + "/events" }.map(\.payload).joined()
        #expect(raw.contains("\"alarm\":\"gas.pressure.low\",\"value\":1.2,\"threshold\":1.5}"), "\(raw.prefix(2000))")
        #expect(rig.agent.stderr.contains("alarm raised device.id=gas point=pressure alarm=gas.pressure.low value=1.2 threshold=1.5"))
    }
}
