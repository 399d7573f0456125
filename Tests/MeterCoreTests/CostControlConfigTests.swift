import MeterProtocols
import Testing
@testable import MeterCore

/// A device's `cost_control:` (prepaid) in the site config: what loads, and every mistake at its
/// file:line:column.
@Suite struct CostControlConfigTests {
    static func d(_ text: String) -> ExactDecimal { ExactDecimal(text)! }

    static func site(_ devices: String) throws -> SiteConfig {
        try SiteConfigLoader.load(text: """
            gateway: gw-1
            buses:
              - {id: rs485, type: serial, port: /dev/null}
            devices:
            \(devices)
            """, file: "s.yaml", profiles: try Repo.profiles())
    }

    @Test func flatTariffWithDefaults() throws {
        let site = try Self.site("""
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter,
                 cost_control: {mode: local, tariff: {flat: 0.59}, low_credit: 10, initial_balance: 50}}
            """)
        let settings = try #require(site.devices[0].costControl?.local)
        #expect(settings.tariff == .flat(Self.d("0.59")))
        #expect(settings.lowCredit.hasSameValue(as: Self.d("10")))
        #expect(settings.initialBalance.hasSameValue(as: Self.d("50")))
        #expect(settings.point == PointName("energy.import.total"))
        #expect(settings.maxCredit.hasSameValue(as: LocalCostControl.defaultMaxCredit))
        #expect(settings.eventIntervalMs == 15 * 60_000)
    }

    @Test func timeOfUseRemoteAndTheOptionalKeys() throws {
        let site = try Self.site("""
              - id: flat-1
                bus: rs485
                unit: 1
                profile: generic-modbus-relay-meter
                cost_control:
                  mode: local
                  tariff: {periods: [{from: "08:00", to: "22:00", price: 0.79}, {from: "22:00", to: "08:00", price: 0.39}]}
                  low_credit: 10
                  initial_balance: 0
                  point: energy.import.total
                  max_credit: 500
                  event_interval: 1h
              - {id: flat-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter, cost_control: remote}
              - {id: flat-3, bus: rs485, unit: 3, profile: generic-modbus-relay-meter, cost_control: {mode: remote}}
              - {id: gas-1, bus: rs485, unit: 4, profile: generic-modbus-gas,
                 cost_control: {mode: local, tariff: {flat: 3.2}, low_credit: 5, initial_balance: 20}}
              - {id: life-1, bus: rs485, unit: 5, profile: eastron-sdm120, protected: true,
                 cost_control: {mode: local, tariff: {flat: 0.5}, low_credit: 5, initial_balance: 20}}
            """)
        let settings = try #require(site.devices[0].costControl?.local)
        #expect(settings.tariff == .timeOfUse([
            TariffPeriod(fromMinute: 480, toMinute: 1320, price: Self.d("0.79")),
            TariffPeriod(fromMinute: 1320, toMinute: 480, price: Self.d("0.39")),
        ]))
        #expect(settings.tariff.price(atMinute: 479) == Self.d("0.39"))
        #expect(settings.tariff.price(atMinute: 480) == Self.d("0.79"))
        #expect(settings.tariff.price(atMinute: 1319) == Self.d("0.79"))
        #expect(settings.tariff.price(atMinute: 1320) == Self.d("0.39"))
        #expect(settings.maxCredit.hasSameValue(as: Self.d("500")))
        #expect(settings.eventIntervalMs == 3_600_000)
        #expect(site.devices[1].costControl == .remote)
        #expect(site.devices[2].costControl == .remote)
        #expect(site.devices[3].costControl?.local?.point == PointName("volume.total"), "water and gas charge their volume")
        #expect(site.devices[4].costControl?.local != nil, "a protected device needs no relay: it gets an alarm instead")
        #expect(site.devices[4].protected)
    }

    /// "s.yaml:LINE:COLUMN" of the first `needle` on line `line` of `text` (1-based, as editors count).
    static func at(_ text: String, _ line: Int, _ needle: String) -> String {
        let row = text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
        guard let range = row.range(of: needle) else { return "s.yaml:\(line):?" }
        return "s.yaml:\(line):\(row.distance(from: row.startIndex, to: range.lowerBound) + 1)"
    }

    @Test func everyMistakeIsReportedWhereItIs() throws {
        let text = """
            gateway: gw-1
            buses:
              - {id: rs485, type: serial, port: /dev/null}
            devices:
              - id: a
                bus: rs485
                unit: 1
                profile: eastron-sdm120
                cost_control: {mode: local, tariff: {flat: 0.59}, low_credit: 10, initial_balance: 50}
              - id: b
                bus: rs485
                unit: 2
                profile: generic-modbus-relay-meter
                cost_control:
                  mode: local
                  tariff:
                    periods:
                      - {from: "08:00", to: "22:00", price: 0.79}
                      - {from: "21:00", to: "07:00", price: 0.39}
                  low_credit: -1
                  initial_balance: 50.12345
                  point: volume.total
              - id: c
                bus: rs485
                unit: 3
                profile: generic-modbus-relay-meter
                cost_control:
                  mode: local
                  tariff: {periods: [{from: "00:00", to: "06:00", price: 0.3}, {from: "08:00", to: "24:00", price: 0.5}]}
                  low_credit: 1
              - {id: d, bus: rs485, unit: 4, profile: generic-modbus-relay-meter, cost_control: {mode: remote, low_credit: 5}}
              - {id: e, bus: rs485, unit: 5, profile: generic-modbus-relay-meter, cost_control: {mode: local, tariff: {flat: 0.1, periods: []}, low_credit: 1, initial_balance: 1, event_interval: 10s}}
              - {id: f, bus: rs485, unit: 6, profile: generic-modbus-relay-meter, cost_control: {mode: local, tariff: {periods: [{from: "8:00", to: "25:00", price: 1}]}, low_credit: 1, initial_balance: 1}}
              - {id: g, bus: rs485, unit: 7, profile: eastron-sdm120, protected: true, cost_control: {mode: local, tariff: {flat: 1.2345678}, low_credit: 1, initial_balance: 1}}
              - {id: h, bus: rs485, unit: 8, profile: generic-modbus-relay-meter, cost_control: local}
              - {id: i, bus: rs485, unit: 9, profile: generic-modbus-relay-meter, cost_control: {mode: prepaid}}
              - {id: j, bus: rs485, unit: 10, profile: generic-modbus-relay-meter, cost_control: {mode: local, tariff: {periods: [{from: "06:00", to: "06:00", price: 1}]}, low_credit: 1, initial_balance: 1, max_credit: 0}}
            """
        let errors = siteErrors(text, file: "s.yaml", profiles: try Repo.profiles())
        let expected = [
            Self.at(text, 9, "local") + ": local cost control cuts the supply at zero credit, but profile 'eastron-sdm120' has no relay.open/relay.close or valve.close/valve.open actions; mark the device 'protected: true' (an alarm instead of a cut) or use cost_control: remote",
            Self.at(text, 19, "{from") + ": period 21:00–07:00 overlaps the period at line 18 (from 21:00)",
            Self.at(text, 20, "-1") + ": low_credit -1 is below 0",
            Self.at(text, 21, "50.") + ": initial_balance 50.12345 has more than 4 decimals",
            Self.at(text, 22, "volume") + ": profile 'generic-modbus-relay-meter' has no point 'volume.total' to charge (counters: energy.import.total)",
            Self.at(text, 28, "mode") + ": missing key 'initial_balance' in cost_control (mode local)",
            Self.at(text, 29, "[{") + ": the periods leave 06:00–08:00 uncovered; time-of-use periods must cover the whole day",
            Self.at(text, 31, "5}}") + ": 'low_credit' is for cost_control mode local; with mode remote the head-end keeps the balance",
            Self.at(text, 32, "{flat") + ": a tariff is either 'flat' or 'periods', not both",
            Self.at(text, 32, "10s") + ": bad event_interval '10s' (expected 1m to 24h, e.g. 15m)",
            Self.at(text, 33, "\"25") + ": expected a time of day \"HH:MM\" for 'to' (00:00–24:00), got '25:00'",
            Self.at(text, 34, "1.23") + ": price 1.2345678 has more than 6 decimals",
            Self.at(text, 35, "local}") + ": 'cost_control: local' needs its settings: {mode: local, tariff: {flat: PRICE}, low_credit: AMOUNT, initial_balance: AMOUNT}",
            Self.at(text, 36, "prepaid") + ": unknown cost_control mode 'prepaid' (expected one of: local, remote)",
            Self.at(text, 37, "\"06:00\", price") + ": period 06:00–06:00 is empty (a whole day is 00:00–24:00, or use flat)",
            Self.at(text, 37, "0}}") + ": max_credit must be more than 0",
        ]
        for line in expected {
            #expect(errors.contains(line), "missing: \(line)\nall: \(errors.joined(separator: "\n"))")
        }
        #expect(errors.count == expected.count, "\(errors.joined(separator: "\n"))")
    }

    @Test func aCommandsTariffGoesThroughTheSameChecks() throws {
        func tariff(_ json: String) throws -> Result<Tariff, ConfigError> {
            SiteConfigLoader.tariff(fromParams: try YAMLParser.parse(json, file: "params"))
        }
        #expect(try tariff("{\"flat\": 0.61}") == .success(.flat(Self.d("0.61"))))
        let periods = try tariff("{\"periods\":[{\"from\":\"00:00\",\"to\":\"12:00\",\"price\":0.5},{\"from\":\"12:00\",\"to\":\"24:00\",\"price\":0.7}]}")
        #expect(periods == .success(.timeOfUse([TariffPeriod(fromMinute: 0, toMinute: 720, price: Self.d("0.5")),
                                                TariffPeriod(fromMinute: 720, toMinute: 1440, price: Self.d("0.7"))])))
        guard case let .failure(gap) = try tariff("{\"periods\":[{\"from\":\"00:00\",\"to\":\"12:00\",\"price\":0.5}]}") else {
            Issue.record("a half day was accepted")
            return
        }
        #expect(gap.message == "the periods leave 12:00–24:00 uncovered; time-of-use periods must cover the whole day")
        guard case let .failure(negative) = try tariff("{\"flat\": -1}") else {
            Issue.record("a negative price was accepted")
            return
        }
        #expect(negative.message == "price -1 out of range 0–10000")
        // What `tariff.set` results and events show reads back as the same tariff.
        let shown = try periods.get().json
        #expect(shown == "{\"periods\":[{\"from\":\"00:00\",\"to\":\"12:00\",\"price\":0.5},{\"from\":\"12:00\",\"to\":\"24:00\",\"price\":0.7}]}")
        #expect(try tariff(shown) == periods)
    }

    @Test func timeOfUseSpansSplitAtThePeriodBoundaries() {
        let tariff = Tariff.timeOfUse([TariffPeriod(fromMinute: 480, toMinute: 1320, price: Self.d("0.79")),
                                       TariffPeriod(fromMinute: 1320, toMinute: 480, price: Self.d("0.39"))])
        let day: Int64 = 86_400_000
        let at2150 = 20 * day + (21 * 60 + 50) * 60_000
        // 21:50–22:10: ten minutes each side of 22:00.
        let spans = tariff.spans(fromLocalMs: at2150, durationMs: 20 * 60_000)
        #expect(spans.map(\.price) == [Self.d("0.79"), Self.d("0.39")])
        let tenMinutes: Int64 = 600_000, hour: Int64 = 3_600_000
        #expect(spans.map(\.ms) == [tenMinutes, tenMinutes])
        // Across midnight the night period goes on; a whole day is 14 h day and 10 h night, merged.
        let whole = tariff.spans(fromLocalMs: at2150, durationMs: day)
        #expect(whole.map(\.ms) == [14 * hour, 10 * hour])
        #expect(whole.map(\.price) == [Self.d("0.79"), Self.d("0.39")])
        // Exactly on the boundary: 22:00 belongs to the night.
        let onBoundary = tariff.spans(fromLocalMs: 20 * day + 22 * 3_600_000, durationMs: 1000)
        #expect(onBoundary.map(\.price) == [Self.d("0.39")])
        #expect(Tariff.flat(Self.d("0.5")).spans(fromLocalMs: at2150, durationMs: day).map(\.ms) == [day])
        #expect(tariff.spans(fromLocalMs: at2150, durationMs: 0).map(\.price) == [Self.d("0.79")])
    }
}
