import MeterCore
import MeterProtocols
@testable import MeterSimulation
import Testing

/// The simulated CJ/T 188 meter's answers, frame by frame, and the scenario keys for its lines.
@Suite struct CJT188SimulatorTests {
    static let address = CJT188Address(written: "00000000001234")!

    static func meter(profile: String = "cjt188-water-cold", diOrder: CJT188DIOrder? = nil) throws -> (CJT188SimulatedMeter, ManualClock) {
        let clock = ManualClock()
        let loaded = try TestPaths.profile(profile)
        let device = SimulatedDevice(unit: UnitID(1), profile: loaded, seed: 9, clock: clock)
        device.set("flow.rate", to: 0)
        device.set("volume.total", to: 4711.25)
        return (CJT188SimulatedMeter(address: address, meterType: CJT188SimulatedMeter.meterType(for: loaded), device: device,
                                     diOrder: diOrder), clock)
    }

    @Test func answersCurrentDataWithTotalsClockAndStatus() throws {
        let (meter, clock) = try Self.meter()
        let request = CJT188Request.readCurrentData(meterType: .coldWater, address: Self.address, order: .highFirst, serial: 5)
        let reply = try #require(meter.respond(to: request, at: clock.now()))
        let data = try CJT188CurrentData.decode(try CJT188Reply.payload(of: reply, answering: request, dataID: .currentData))
        #expect(data.currentTotal.description == "4711.25")
        #expect(data.settlementTotal.description == "4711.00")
        // ManualClock starts at 2026-01-01T00:00:00Z: 08:00 in UTC+8.
        #expect(data.clock == MeterDateTime(year: 2026, month: 1, day: 1, hour: 8, minute: 0, second: 0))
        #expect(data.status == CJT188Status(valve: .open, batteryLow: false))
        // The reply echoes the DI in the order it was asked.
        let low = CJT188Request.readCurrentData(meterType: .coldWater, address: Self.address, order: .lowFirst, serial: 6)
        #expect(Array(try #require(meter.respond(to: low, at: clock.now())).data.prefix(3)) == [0x1F, 0x90, 6])
    }

    @Test func staysSilentForOtherMetersTypesAndOrders() throws {
        let (meter, clock) = try Self.meter(diOrder: .lowFirst)
        let other = CJT188Request.readCurrentData(meterType: .coldWater, address: CJT188Address(written: "00000000001235")!,
                                                  order: .lowFirst, serial: 1)
        #expect(meter.respond(to: other, at: clock.now()) == nil || !meter.isAddressed(by: other))
        #expect(!meter.isAddressed(by: other))
        let gasType = CJT188Request.readCurrentData(meterType: .gas, address: Self.address, order: .lowFirst, serial: 1)
        #expect(!meter.isAddressed(by: gasType))
        let wildcardType = CJT188Request.readCurrentData(meterType: .wildcard, address: Self.address, order: .lowFirst, serial: 1)
        #expect(meter.isAddressed(by: wildcardType))
        let highFirst = CJT188Request.readCurrentData(meterType: .coldWater, address: Self.address, order: .highFirst, serial: 1)
        #expect(meter.respond(to: highFirst, at: clock.now()) == nil, "this meter only knows 1F 90")
        #expect(meter.isAddressed(by: CJT188Request.readAddress(order: .lowFirst, serial: 1)))
    }

    @Test func valveMovesUnlessFaultyAndFlagsShowInStatus() throws {
        let (meter, clock) = try Self.meter(profile: "cjt188-gas")
        #expect(meter.meterType == .gas)
        let close = CJT188Request.valve(.close, meterType: .gas, address: Self.address, order: .highFirst, serial: 2)
        let reply = try #require(meter.respond(to: close, at: clock.now()))
        #expect(Array(try CJT188Reply.payload(of: reply, answering: close, dataID: .valveControl)) == [0x01, 0x00])
        #expect(meter.device.value(of: "valve.state") == 0)
        // A closed valve stops the total.
        let before = meter.currentData(at: clock.now()).currentTotal
        meter.device.set("flow.rate", to: nil)
        clock.advance(by: 3600)
        #expect(meter.currentData(at: clock.now()).currentTotal == before)

        meter.device.set("battery.low", to: 1)
        meter.device.set("valve.fault", to: 1)
        let open = CJT188Request.valve(.open, meterType: .gas, address: Self.address, order: .highFirst, serial: 3)
        let faulty = try #require(meter.respond(to: open, at: clock.now()))
        let st = Array(try CJT188Reply.payload(of: faulty, answering: open, dataID: .valveControl))
        #expect(CJT188Status(low: st[0], high: st[1]) == CJT188Status(valve: .abnormal, batteryLow: true))
        #expect(meter.device.value(of: "valve.state") == 0, "a faulty valve does not move")
    }

    @Test func unknownRequestsAndTheExceptionFaultGetErrorReplies() throws {
        let (meter, clock) = try Self.meter()
        let unknown = CJT188Frame(meterType: .coldWater, address: Self.address, control: .readData, data: [0x90, 0x2F, 0x01])
        let reply = try #require(meter.respond(to: unknown, at: clock.now()))
        #expect(reply.control == CJT188Control(rawValue: 0xC1))
        try meter.device.updateFaults { (f: inout DeviceFaults) throws(DeviceFaults.SetError) in try f.set("exception", to: "4") }
        let read = CJT188Request.readCurrentData(meterType: .coldWater, address: Self.address, order: .highFirst, serial: 7)
        #expect(throws: CJT188Error.errorReply(control: 0xC1, status: CJT188Status(low: 4, high: 0))) {
            _ = try CJT188Reply.payload(of: try #require(meter.respond(to: read, at: clock.now())), answering: read, dataID: .currentData)
        }
    }

    @Test func scenarioLinesSpeakCJT188ByAddress() throws {
        let text = """
        lines:
          - id: mbus
            protocol: cjt188
            devices:
              - {address: "00000000001234", profile: cjt188-water-cold, di_order: low_first}
              - {address: "00000000001235", profile: cjt188-gas}
        """
        let scenario = try ScenarioLoader.parse(text: text, file: "s.yaml")
        let line = try #require(scenario.lines.first)
        #expect(line.protocolName == .cjt188)
        #expect(line.devices.map(\.unit.rawValue) == [1, 2])
        #expect(line.devices.map { $0.address ?? "" } == ["00000000001234", "00000000001235"])
        #expect(line.devices.map(\.diOrder) == [.lowFirst, nil])

        let broken = """
        lines:
          - id: mbus
            protocol: cjt188
            devices:
              - {profile: cjt188-gas}
              - {address: "1234", profile: cjt188-gas}
              - {address: "00000000001234", profile: cjt188-gas, di_order: middle}
          - id: rtu
            devices:
              - {unit: 1, profile: eastron-sdm120, address: "00000000001234", di_order: low_first}
        """
        do {
            _ = try ScenarioLoader.parse(text: broken, file: "b.yaml")
            Issue.record("a broken scenario loaded")
        } catch {
            let lines = error.errors.map(\.description)
            #expect(lines.contains { $0.hasPrefix("b.yaml:5:9: missing key 'address'") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("b.yaml:6:19: bad meter address '1234'") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("b.yaml:7:68: unknown DI order 'middle'") }, "\(lines)")
            #expect(lines.contains { $0.contains("'address' is for DL/T 645 and CJ/T 188 lines") }, "\(lines)")
            #expect(lines.contains { $0.contains("'di_order' is for CJ/T 188 lines") }, "\(lines)")
        }
    }
}
