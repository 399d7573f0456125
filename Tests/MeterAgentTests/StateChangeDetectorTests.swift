import MeterAgent
import MeterCore
import MeterProtocols
import Testing

/// `state.changed` events from profile states (issue 11, alarms and events from the meters).
@Suite struct StateChangeDetectorTests {
    static let device = DeviceID("flat-301-gas")

    static func reading(_ point: String, _ value: MeterValue?, at ts: Int64, quality: Quality = .good) -> Reading {
        Reading(device: device, point: PointName(point), value: quality == .good ? value : nil, unit: "",
                timestampMs: ts, quality: quality, billing: false)
    }

    static func word(_ value: Int64) -> MeterValue { .decimal(ExactDecimal(significand: value, exponent: 0)) }

    /// What a changed state looks like: point, from, to.
    static func changes(_ events: [MeterEvent]) -> [String] {
        events.map { event in
            guard case let .stateChanged(from, to) = event.kind else { return "not a state change: \(event)" }
            return "\(event.point) \(from)->\(to)"
        }
    }

    let valve = StateChangeDetector(states: [PointName("valve.state"): StateWatch(whole: true),
                                             PointName("battery.low"): StateWatch(whole: true)])

    @Test func theFirstReadingIsABaselineAndOnlyChangesAreEvents() {
        var detector = valve
        #expect(detector.observe([Self.reading("valve.state", .bool(true), at: 1), Self.reading("battery.low", .bool(false), at: 1)]).isEmpty)
        #expect(detector.observe([Self.reading("valve.state", .bool(true), at: 2), Self.reading("battery.low", .bool(false), at: 2)]).isEmpty)
        let events = detector.observe([Self.reading("valve.state", .bool(false), at: 3), Self.reading("battery.low", .bool(true), at: 3)])
        #expect(Self.changes(events) == ["valve.state true->false", "battery.low false->true"])
        #expect(events.allSatisfy { $0.device == Self.device && $0.timestampMs == 3 && $0.type == "state.changed" })
        #expect(detector.observe([Self.reading("valve.state", .bool(false), at: 4)]).isEmpty, "reported once")
    }

    @Test func aFailedReadIsNeitherAChangeNorANewBaseline() {
        var detector = valve
        _ = detector.observe([Self.reading("valve.state", .bool(true), at: 1)])
        #expect(detector.observe([Self.reading("valve.state", nil, at: 2, quality: .timeout)]).isEmpty)
        #expect(detector.observe([Self.reading("valve.state", nil, at: 3, quality: .crcError)]).isEmpty)
        #expect(detector.observe([Self.reading("valve.state", .bool(true), at: 4)]).isEmpty, "same as before the failures")
        _ = detector.observe([Self.reading("valve.state", nil, at: 5, quality: .backoff)])
        #expect(Self.changes(detector.observe([Self.reading("valve.state", .bool(false), at: 6)])) == ["valve.state true->false"],
                "compared with the last good value, not with the failure")
    }

    @Test func aDeviceThatFailsFromTheStartHasNoBaselineUntilItsFirstGoodRead() {
        var detector = valve
        #expect(detector.observe([Self.reading("valve.state", nil, at: 1, quality: .timeout)]).isEmpty)
        #expect(detector.observe([Self.reading("valve.state", .bool(false), at: 2)]).isEmpty, "first good value = baseline")
        #expect(Self.changes(detector.observe([Self.reading("valve.state", .bool(true), at: 3)])) == ["valve.state false->true"])
    }

    @Test func pointsThatAreNotStatesNeverMakeEvents() {
        var detector = valve
        _ = detector.observe([Self.reading("volume.total", Self.word(100), at: 1)])
        #expect(detector.observe([Self.reading("volume.total", Self.word(101), at: 2)]).isEmpty)
        #expect(StateChangeDetector(states: [:]).isEmpty)
        #expect(StateChangeDetector(states: [PointName("x"): StateWatch(whole: false)]).isEmpty, "an empty watch watches nothing")
    }

    @Test func theSameNumberWithOtherDigitsIsNoChange() {
        var detector = StateChangeDetector(states: [PointName("tamper.cover_count"): StateWatch(whole: true)])
        _ = detector.observe([Self.reading("tamper.cover_count", .decimal(ExactDecimal(significand: 150, exponent: -2)), at: 1)])
        #expect(detector.observe([Self.reading("tamper.cover_count", .decimal(ExactDecimal(significand: 15, exponent: -1)), at: 2)]).isEmpty)
        let events = detector.observe([Self.reading("tamper.cover_count", Self.word(2), at: 3)])
        #expect(Self.changes(events) == ["tamper.cover_count 1.5->2"], "from the last value as read")
    }

    /// DL/T 645 status word 3 as `dlt645-2007-generic` names its bits: a trip sets bits 4 and 6;
    /// keep-power (保电) bit 12. Bits nobody named (prepayment type, bits 8–9) change nothing.
    @Test func namedBitsOfAStatusWordAreStatesOfTheirOwn() {
        let bits = [StatusBit(name: PointName("relay.open"), bit: 4), StatusBit(name: PointName("relay.command_off"), bit: 6),
                    StatusBit(name: PointName("relay.keep_power"), bit: 12)]
        var detector = StateChangeDetector(states: [PointName("relay.status_word"): StateWatch(whole: false, bits: bits)])
        #expect(detector.observe([Self.reading("relay.status_word", Self.word(0x0100), at: 1)]).isEmpty)
        #expect(detector.observe([Self.reading("relay.status_word", Self.word(0x0200), at: 2)]).isEmpty, "unnamed bits")
        let trip = detector.observe([Self.reading("relay.status_word", Self.word(0x0250), at: 3)])
        #expect(Self.changes(trip) == ["relay.open false->true", "relay.command_off false->true"])
        #expect(trip.allSatisfy { $0.json.contains("\"from\":false,\"to\":true") })
        let keep = detector.observe([Self.reading("relay.status_word", Self.word(0x1200), at: 4)])
        #expect(Self.changes(keep) == ["relay.open true->false", "relay.command_off true->false", "relay.keep_power false->true"])
    }

    @Test func aWordWatchedWholeAndByBitsReportsBoth() {
        var detector = StateChangeDetector(states: [PointName("meter.status_word"):
            StateWatch(whole: true, bits: [StatusBit(name: PointName("gas.leak"), bit: 8)])])
        _ = detector.observe([Self.reading("meter.status_word", Self.word(0), at: 1)])
        #expect(Self.changes(detector.observe([Self.reading("meter.status_word", Self.word(0x0100), at: 2)]))
                == ["meter.status_word 0->256", "gas.leak false->true"])
        // A value that is no whole number has no bits: the bits keep their last value.
        _ = detector.observe([Self.reading("meter.status_word", .real(0.5), at: 3)])
        #expect(Self.changes(detector.observe([Self.reading("meter.status_word", Self.word(0x0100), at: 4)]))
                == ["meter.status_word 0.5->256"])
    }
}
