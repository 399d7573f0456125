import MeterProtocols
import Testing
@testable import MeterCore

/// Which points are states (profiles) and which thresholds raise alarms (site configs), with every
/// mistake reported at its file, line and column (issue 11, alarms and events from the meters).
@Suite struct EventConfigTests {
    static func site(_ devices: String) -> String {
        """
        gateway: gw-1
        buses:
          - {id: line, type: serial, port: /dev/ttyS1}
          - {id: cjt, type: serial, port: /dev/ttyS2, protocol: cjt188}
        devices:
        \(devices)
        """
    }

    // MARK: - Profiles

    @Test func shippedProfilesMarkTheirStates() throws {
        let profiles = try Repo.profiles()
        let gas = try #require(profiles["generic-modbus-gas"])
        #expect(Set(gas.states.keys.map(\.rawValue)) == ["valve.state", "battery.low", "gas.leak", "tamper.cover", "valve.fault"])
        #expect(gas.states.values.allSatisfy { $0.whole && $0.bits.isEmpty })

        let dlt = try #require(profiles["dlt645-2007-generic"])
        let word3 = try #require(dlt.states[PointName("relay.status_word")])
        #expect(!word3.whole)
        #expect(word3.bits.map { "\($0.name)=\($0.bit)" } == ["relay.open=4", "relay.command_off=6", "relay.alarm=7", "relay.keep_power=12"])
        #expect(dlt.states[PointName("meter.status_word1")]?.bits.map(\.bit) == [2, 3])
        #expect(dlt.states[PointName("tamper.cover_count")] == StateWatch(whole: true))
        #expect(dlt.states[PointName("voltage.l1")] == nil, "measurements are not states")

        let cjtGas = try #require(profiles["cjt188-gas"])
        #expect(cjtGas.states[PointName("meter.status_word")]?.bits.map { "\($0.name)=\($0.bit)" } == ["gas.leak=8", "tamper.cover=9"])
        for name in ["cjt188-gas", "cjt188-water-cold", "cjt188-water-hot"] {
            let profile = try #require(profiles[name])
            for point in ["valve.state", "valve.fault", "battery.low"] {
                #expect(profile.states[PointName(point)]?.whole == true, "\(name) \(point)")
            }
        }
        #expect(try #require(profiles["eastron-sdm120"]).states.isEmpty)
    }

    @Test func statesAndBitsAreCheckedWhereTheyAreWritten() {
        let text = """
        manufacturer: X
        model: Y
        medium: gas
        defaults: {table: holding}
        points:
          - {name: flow.rate, address: 0, type: f32, bits: {leak: 1}}
          - {name: status, address: 2, type: u16, bits: {gas.leak: 16, tamper: 1, Bad-Name: 2}}
          - {name: alarms, address: 3, type: u16, bits: {door.open: 1, door.closed: 1}}
          - {name: valve.state, table: coil, address: 0, state: maybe}
          - {name: words, address: 4, type: u16, bits: [1, 2]}
          - {name: doors, address: 5, type: u32, bits: {door.open: 31}}
          - {name: flags, address: 7, type: u16, bits: {valve.state: 0, door.open: 3}}
          - {name: scaled, address: 8, type: u16, scale: 0.1, bits: {x: 0}}
        """
        #expect(profileErrors(text, file: "p.yaml") == [
            "p.yaml:6:52: 'bits' needs a status word (Modbus u16/u32/u64 without scale or offset, DL/T 645 format NNNN, CJ/T 188 field status); point 'flow.rate' is not one",
            "p.yaml:7:60: bit 16 out of range 0–15",
            "p.yaml:7:75: invalid bit name 'Bad-Name' in point 'status' (expected dotted lower-case words, e.g. relay.open)",
            "p.yaml:8:77: bit 1 is already named 'door.open' in point 'alarms'",
            "p.yaml:9:57: expected true or false for 'state', got 'maybe'",
            "p.yaml:10:48: expected a mapping of names to bit numbers for 'bits' in point 'words', e.g. {relay.open: 4}, got a list",
            "p.yaml:12:49: bit name 'valve.state' of point 'flags' is also a point (line 9)",
            "p.yaml:12:65: bit name 'door.open' of point 'flags' is also a bit of point 'doors'",
            "p.yaml:13:61: 'bits' needs a status word (Modbus u16/u32/u64 without scale or offset, DL/T 645 format NNNN, CJ/T 188 field status); point 'scaled' is not one",
        ])
    }

    @Test func dlt645AndCJT188StatusWordsTakeBits() throws {
        let dlt = try ProfileLoader.load(text: """
            manufacturer: X
            model: Y
            medium: electricity
            protocol: dlt645
            points:
              - {name: word3, di: "04000503", format: NNNN, bits: {relay.open: 4, relay.keep_power: 12}}
              - {name: energy.total, di: "00000000", format: XXXXXX.XX, state: true}
            """, file: "d.yaml", name: "d")
        #expect(dlt.states[PointName("word3")]?.bits.count == 2)
        #expect(dlt.states[PointName("energy.total")]?.whole == true)
        #expect(profileErrors("""
            manufacturer: X
            model: Y
            medium: water
            protocol: cjt188
            meter_type: cold_water
            points:
              - {name: st, field: status, bits: {valve.jammed: 15}}
              - {name: volume.total, field: current, bits: {x: 0}}
              - {name: word, field: status, bits: {y: 16}}
            """, file: "c.yaml") == [
            "c.yaml:8:48: 'bits' needs a status word (Modbus u16/u32/u64 without scale or offset, DL/T 645 format NNNN, CJ/T 188 field status); point 'volume.total' is not one",
            "c.yaml:9:43: bit 16 out of range 0–15",
        ])
    }

    // MARK: - Site config alarms

    @Test func alarmsAreReadWithTheirDefaults() throws {
        let config = try SiteConfigLoader.load(text: Self.site("""
              - id: gas
                bus: line
                unit: 20
                profile: generic-modbus-gas
                alarms:
                  - {name: gas.pressure.low,  point: pressure,  below: 1.5, clear_above: 1.7}
                  - {name: gas.pressure.high, point: pressure,  above: 3.0}
                  - {name: gas.night_flow,    point: flow.rate, above: 0, for: 2h, between: "22:00-05:00"}
              - {id: water, bus: cjt, address: "00000000301001", profile: cjt188-water-cold, alarms: []}
            """), file: "s.yaml", profiles: try Repo.profiles())
        let alarms = try #require(config.device(DeviceID("gas"))?.alarms)
        #expect(alarms.map(\.name) == ["gas.pressure.low", "gas.pressure.high", "gas.night_flow"])
        #expect(alarms[0].direction == .below && alarms[0].threshold.description == "1.5" && alarms[0].clearThreshold.description == "1.7")
        #expect(alarms[0].holdMs == 0 && alarms[0].window == nil)
        #expect(alarms[1].clearThreshold == alarms[1].threshold, "no clear threshold: no hysteresis")
        #expect(alarms[2].holdMs == 7_200_000 && alarms[2].window == DailyWindow(startMinute: 22 * 60, endMinute: 5 * 60))
        #expect(config.device(DeviceID("water"))?.alarms.isEmpty == true)
    }

    @Test func alarmMistakesAreReportedWhereTheyAreWritten() throws {
        let text = Self.site("""
              - id: gas
                bus: line
                unit: 20
                profile: generic-modbus-gas
                alarms:
                  - {name: ok, point: pressure, above: 5}
                  - {name: low, point: presure, below: 1.5}
                  - {name: high, point: pressure, above: 3.0, clear_below: 3.2}
                  - {name: low2, point: pressure, below: 1.5, clear_above: 1.2}
                  - {name: both, point: pressure, above: 3, below: 1}
                  - {name: none, point: pressure}
                  - {name: wrong-key, point: pressure, above: 3, clear_above: 4}
                  - {name: night, point: flow.rate, above: 0, between: "23:00-23:00"}
                  - {name: night2, point: flow.rate, above: 0, between: "1am-5am", for: 2 hours}
                  - {name: ok, point: pressure, above: 4}
                  - {name: typo, point: pressure, abvoe: 4}
              - {id: gas2, bus: line, unit: 21, profile: generic-modbus-gas, alarms: {name: x}}
            """)
        let errors = siteErrors(text, file: "s.yaml", profiles: try Repo.profiles())
        let points = "volume.total, flow.rate, pressure, temperature, valve.state, battery.low, gas.leak, tamper.cover, valve.fault"
        #expect(errors == [
            "s.yaml:12:28: unknown point 'presure' for profile 'generic-modbus-gas' of device 'gas' (points: \(points))",
            "s.yaml:13:64: clear_below 3.2 is on the wrong side of above 3.0 in alarm 'high' (it must be at or below the threshold, or the alarm would clear while still raised)",
            "s.yaml:14:64: clear_above 1.2 is on the wrong side of below 1.5 in alarm 'low2' (it must be at or above the threshold, or the alarm would clear while still raised)",
            "s.yaml:15:56: alarm 'both' has both 'above' and 'below' (one alarm per direction: write two alarms)",
            "s.yaml:16:9: missing key 'above' or 'below' in alarm 'none'",
            "s.yaml:17:67: 'clear_above' does not go with 'above' in alarm 'wrong-key' (an alarm raised above a threshold clears with 'clear_below')",
            "s.yaml:18:60: bad time window '23:00-23:00' for 'between' in alarm 'night' (expected HH:MM-HH:MM in the gateway's local time, e.g. \"00:00-05:00\" or \"22:00-06:00\"; start and end must differ)",
            "s.yaml:19:61: bad time window '1am-5am' for 'between' in alarm 'night2' (expected HH:MM-HH:MM in the gateway's local time, e.g. \"00:00-05:00\" or \"22:00-06:00\"; start and end must differ)",
            "s.yaml:19:77: bad duration '2 hours' for 'for' in alarm 'night2' (expected e.g. 90s, 15m, 2h or a number of seconds, at most 7 days)",
            "s.yaml:20:16: duplicate alarm name 'ok' in device 'gas' (first at line 11)",
            "s.yaml:21:9: missing key 'above' or 'below' in alarm 'typo'",
            "s.yaml:21:39: unknown key 'abvoe' in alarm 'typo' (expected one of: name, point, above, below, clear_above, clear_below, for, between)",
            "s.yaml:22:74: expected a list for 'alarms', got a mapping",
        ])
    }
}
