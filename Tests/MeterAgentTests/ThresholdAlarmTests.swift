import MeterAgent
import MeterCore
import MeterProtocols
import Testing

/// Threshold alarms with hysteresis, hold times and local time windows (issue 11).
@Suite struct ThresholdAlarmTests {
    static let device = DeviceID("gas-1")
    /// A gateway in UTC+8 (China): local seconds = UTC seconds + 8 h.
    static let beijing: @Sendable (Int64) -> Int64 = { $0 / 1000 + 8 * 3600 }

    static func reading(_ point: String, _ value: Double?, at ts: Int64, quality: Quality = .good) -> Reading {
        Reading(device: device, point: PointName(point), value: value.map { .decimal(ExactDecimal("\($0)")!) },
                unit: "kPa", timestampMs: ts, quality: value == nil ? .timeout : quality, billing: false)
    }

    static func decimal(_ text: String) -> ExactDecimal { ExactDecimal(text)! }

    static let low = AlarmRule(name: "gas.pressure.low", point: PointName("pressure"), direction: .below,
                               threshold: decimal("1.5"), clearThreshold: decimal("1.7"))
    static let high = AlarmRule(name: "gas.pressure.high", point: PointName("pressure"), direction: .above,
                                threshold: decimal("3.0"), clearThreshold: decimal("2.8"))

    /// Feeds `values` one poll a second and returns `raised NAME VALUE` / `cleared NAME VALUE` lines.
    static func run(_ alarms: inout ThresholdAlarms, _ values: [Double?], point: String = "pressure",
                    start: Int64 = 1_000_000, stepMs: Int64 = 1000) -> [String] {
        var lines: [String] = []
        for (i, value) in values.enumerated() {
            for event in alarms.observe([reading(point, value, at: start + Int64(i) * stepMs)]) {
                switch event.kind {
                case let .alarmRaised(name, value, _): lines.append("raised \(name) \(value)")
                case let .alarmCleared(name, value, _): lines.append("cleared \(name) \(value)")
                case .stateChanged: lines.append("unexpected \(event)")
                }
            }
        }
        return lines
    }

    @Test func raisedOnceClearedOnceWithHysteresis() {
        var alarms = ThresholdAlarms(rules: [Self.low, Self.high], localSeconds: Self.beijing)
        // Down through 1.5, wobbling around it, then back up: raised once, cleared only at 1.7.
        let lines = Self.run(&alarms, [2.1, 1.6, 1.5, 1.4, 1.3, 1.6, 1.4, 1.69, 1.7, 1.6, 1.45])
        #expect(lines == ["raised gas.pressure.low 1.4", "cleared gas.pressure.low 1.7", "raised gas.pressure.low 1.45"])
        #expect(alarms.active == ["gas.pressure.low"])
    }

    @Test func anAboveAlarmClearsAtOrBelowItsClearThreshold() {
        var alarms = ThresholdAlarms(rules: [Self.high], localSeconds: Self.beijing)
        let lines = Self.run(&alarms, [2.9, 3.0, 3.1, 3.5, 2.9, 2.81, 2.8, 3.0, 3.01])
        #expect(lines == ["raised gas.pressure.high 3.1", "cleared gas.pressure.high 2.8", "raised gas.pressure.high 3.01"])
    }

    @Test func withoutAClearThresholdTheAlarmClearsAtTheThresholdItself() {
        let rule = AlarmRule(name: "flow.any", point: PointName("flow.rate"), direction: .above, threshold: Self.decimal("0"))
        var alarms = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        #expect(Self.run(&alarms, [0, 0.2, 0.1, 0, 0.3], point: "flow.rate")
                == ["raised flow.any 0.2", "cleared flow.any 0.0", "raised flow.any 0.3"])
    }

    @Test func eventsCarryThresholdsAndTheShapeOfTheUplink() throws {
        var alarms = ThresholdAlarms(rules: [Self.low], localSeconds: Self.beijing)
        let raised = try #require(alarms.observe([Self.reading("pressure", 1.42, at: 1_764_052_800_000)]).first)
        #expect(raised.json == #"{"type":"alarm.raised","ts":1764052800000,"device":"gas-1","point":"pressure","alarm":"gas.pressure.low","value":1.42,"threshold":1.5}"#)
        let cleared = try #require(alarms.observe([Self.reading("pressure", 1.75, at: 1_764_052_801_000)]).first)
        #expect(cleared.json == #"{"type":"alarm.cleared","ts":1764052801000,"device":"gas-1","point":"pressure","alarm":"gas.pressure.low","value":1.75,"threshold":1.7}"#)
        #expect(cleared.alarm == "gas.pressure.low")
    }

    @Test func failedReadsNeitherClearNorRaiseNorInterruptAHold() {
        var alarms = ThresholdAlarms(rules: [Self.low], localSeconds: Self.beijing)
        #expect(Self.run(&alarms, [1.2, nil, nil, 1.3, nil, 1.8]) == ["raised gas.pressure.low 1.2", "cleared gas.pressure.low 1.8"])
        let held = AlarmRule(name: "held", point: PointName("pressure"), direction: .below, threshold: Self.decimal("1.5"), holdMs: 3000)
        var holding = ThresholdAlarms(rules: [held], localSeconds: Self.beijing)
        #expect(Self.run(&holding, [1.2, nil, nil, 1.2]) == ["raised held 1.2"], "3 s past the threshold, gaps included")
    }

    @Test func aHoldTimeNeedsTheValuePastTheThresholdWithoutABreak() {
        let rule = AlarmRule(name: "held", point: PointName("pressure"), direction: .above, threshold: Self.decimal("3"), holdMs: 5000)
        var alarms = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        // 3.2 for 4 s, a dip, then 3.2 for 5 s: raised 5 s after the dip.
        let lines = Self.run(&alarms, [3.2, 3.2, 3.2, 3.2, 3.2, 2.9, 3.2, 3.3, 3.2, 3.2, 3.2, 3.4, 3.2])
        #expect(lines == ["raised held 3.4"])
    }

    /// Water flowing every minute from 00:00 to 05:00 local time for two hours: a leak. The same
    /// flow by day is nobody's business; the window is the gateway's local time (UTC+8 here).
    @Test func nightFlowIsRaisedOnlyInsideItsLocalWindow() throws {
        let window = try #require(DailyWindow("00:00-05:00"))
        let rule = AlarmRule(name: "water.night_flow", point: PointName("flow.rate"), direction: .above,
                             threshold: Self.decimal("0"), holdMs: 2 * 3_600_000, window: window)
        // 2026-11-25 16:00 UTC = 2026-11-26 00:00 in Beijing.
        let localMidnight: Int64 = 1_764_086_400_000
        var night = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        let minute: Int64 = 60_000
        let flows = [Double?](repeating: 0.05, count: 180)
        let lines = Self.run(&night, flows, point: "flow.rate", start: localMidnight, stepMs: minute)
        #expect(lines == ["raised water.night_flow 0.05"])
        // Raised at 02:00 local, no earlier.
        var probe = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        let beforeTwo = Self.run(&probe, [Double?](repeating: 0.05, count: 120), point: "flow.rate", start: localMidnight, stepMs: minute)
        #expect(beforeTwo.isEmpty)
        #expect(probe.observe([Self.reading("flow.rate", 0.05, at: localMidnight + 120 * minute)]).count == 1)

        // The same flow from 10:00 local all day long: never raised.
        var day = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        let byDay = Self.run(&day, flows + flows, point: "flow.rate", start: localMidnight + 10 * 3_600_000, stepMs: minute)
        #expect(byDay.isEmpty)
        // From 04:00 the hold cannot be met before 05:00: the window's end resets it.
        var late = ThresholdAlarms(rules: [rule], localSeconds: Self.beijing)
        let fromFour = Self.run(&late, flows, point: "flow.rate", start: localMidnight + 4 * 3_600_000, stepMs: minute)
        #expect(fromFour.isEmpty)
        // Once raised, the alarm clears when the flow stops, whatever the time.
        #expect(Self.run(&night, [0.2, 0.0], point: "flow.rate", start: localMidnight + 9 * 3_600_000) == ["cleared water.night_flow 0.0"])
    }

    @Test func windowsRunPastMidnightAndParseStrictly() throws {
        let evening = try #require(DailyWindow("22:00-06:00"))
        #expect(evening.contains(minuteOfDay: 22 * 60) && evening.contains(minuteOfDay: 0) && evening.contains(minuteOfDay: 5 * 60 + 59))
        #expect(!evening.contains(minuteOfDay: 6 * 60) && !evening.contains(minuteOfDay: 12 * 60))
        let day = try #require(DailyWindow("08:30-24:00"))
        #expect(day.contains(minuteOfDay: 23 * 60 + 59) && !day.contains(minuteOfDay: 8 * 60 + 29))
        #expect(day.description == "08:30-24:00")
        for bad in ["0:00-05:00", "00:00-05:60", "25:00-01:00", "05:00-05:00", "00:00-24:00", "00:00", "00:00-05:00-06:00", "ab:cd-01:00", "24:00-01:00"] {
            #expect(DailyWindow(bad) == nil, "\(bad)")
        }
    }

    @Test func alarmsWatchOnlyTheirOwnPoint() {
        var alarms = ThresholdAlarms(rules: [Self.low], localSeconds: Self.beijing)
        let other = Self.run(&alarms, [0.1, 0.2], point: "temperature")
        #expect(other.isEmpty)
        #expect(ThresholdAlarms(rules: [], localSeconds: Self.beijing).isEmpty)
    }
}
