import MeterCore
import MeterProtocols
import Testing
@testable import MeterSimulation

/// `raise` / `clear` on the control channel: a gas leak, a tamper, a valve fault or a low battery
/// shows in the bytes each simulated meter serves, where its profile reads it (issue 11).
@Suite struct MeterConditionTests {
    static func simulator() throws -> Simulator {
        let line = ScenarioLine(id: "rs485-1", settings: SerialSettings(baud: 9600), devices: [
            ScenarioDevice(unit: UnitID(20), profileName: "generic-modbus-gas", seed: 2),
        ])
        return try Simulator(scenario: try .testScenario(lines: [line]), clock: ManualClock())
    }

    /// The discrete inputs the Modbus gas profile reads: battery, leak, tamper, valve fault.
    static func discreteInputs(_ device: SimulatedDevice) throws -> [UInt16] {
        let image = try DeviceRegisterImage(device: device)
        image.refresh()
        return try #require(image.map.load(.discrete, at: 0, count: 4))
    }

    @Test func modbusGasMeterServesConditionsAsDiscreteInputs() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let control = ControlInterpreter(simulator: simulator)
        let device = try #require(simulator.device(endpoint: "rs485-1", unit: 20))
        #expect(try Self.discreteInputs(device) == [0, 0, 0, 0])
        #expect(control.execute("raise rs485-1 20 leak") == ["ok"])
        #expect(control.execute("raise rs485-1 20 tamper") == ["ok"])
        #expect(try Self.discreteInputs(device) == [0, 1, 1, 0])
        #expect(control.execute("state rs485-1 20").contains("conditions=leak tamper"))
        #expect(control.execute("raise rs485-1 20 valve_fault") == ["ok"])
        #expect(control.execute("raise rs485-1 20 battery_low") == ["ok"])
        #expect(try Self.discreteInputs(device) == [1, 1, 1, 1])
        // A faulty valve does not move when the coil is written.
        device.write(PointName("valve.state"), value: 0)
        #expect(device.pointValues()[PointName("valve.state")] == 1)
        #expect(control.execute("clear rs485-1 20 valve_fault") == ["ok"])
        device.write(PointName("valve.state"), value: 0)
        #expect(device.pointValues()[PointName("valve.state")] == 0)
        #expect(control.execute("raise rs485-1 20 valve_fault") == ["ok"])
        #expect(control.execute("clear rs485-1 20 leak") == ["ok"])
        #expect(control.execute("clear rs485-1 20 tamper") == ["ok"])
        #expect(try Self.discreteInputs(device) == [1, 0, 0, 1])

        #expect(control.execute("raise rs485-1 20 fire").first == "error: unknown condition 'fire' (expected one of: leak | tamper | valve_fault | battery_low | clock_battery_low)")
        #expect(control.execute("raise rs485-1 20").first?.hasPrefix("error: usage: raise LINE UNIT") == true)
        #expect(control.execute("clear rs485-1 21 leak") == ["error: no device rs485-1 21"])
    }

    @Test func cjt188GasMeterShowsLeakAndTamperInTheVendorByteOfItsStatus() throws {
        let clock = ManualClock()
        let profile = try TestPaths.profile("cjt188-gas")
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 9, clock: clock)
        let address = try #require(CJT188Address(written: "00000000301003"))
        let meter = CJT188SimulatedMeter(address: address, meterType: .gas, device: device)
        func status() throws -> CJT188Status {
            let request = CJT188Request.readCurrentData(meterType: .gas, address: address, order: .highFirst, serial: 1)
            let reply = try #require(meter.respond(to: request, at: clock.now()))
            return try CJT188CurrentData.decode(try CJT188Reply.payload(of: reply, answering: request, dataID: .currentData)).status
        }
        #expect(try status() == CJT188Status(valve: .open, batteryLow: false))
        device.setCondition(.leak, raised: true)
        #expect(try status().high == 0x01)
        device.setCondition(.tamper, raised: true)
        device.setCondition(.valveFault, raised: true)
        device.setCondition(.batteryLow, raised: true)
        #expect(try status() == CJT188Status(valve: .abnormal, batteryLow: true, high: 0x03))
        device.setCondition(.leak, raised: false)
        device.setCondition(.valveFault, raised: false)
        #expect(try status() == CJT188Status(valve: .open, batteryLow: true, high: 0x02))
    }

    @Test func dlt645MeterShowsBatteriesInStatusWord1AndCountsCoverOpenings() throws {
        let clock = ManualClock()
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile("dlt645-2007-generic"), seed: 3, clock: clock)
        let meter = DLT645SimulatedMeter(address: try DLT645Address("202611250301"), device: device)
        func read(_ di: DLT645DataID) throws -> [UInt8] {
            let request = DLT645Request.read(di, from: meter.address)
            return try DLT645Reply.read(try #require(meter.respond(to: request, at: clock.now())), answering: request).payload
        }
        #expect(try read(.statusWord1) == [0x00, 0x00])
        #expect(try read(.coverOpenCount) == [0x00, 0x00, 0x00])
        device.setCondition(.batteryLow, raised: true)
        #expect(try read(.statusWord1) == [0x08, 0x00], "bit 3: meter-reading battery")
        device.setCondition(.clockBatteryLow, raised: true)
        #expect(try read(.statusWord1) == [0x0C, 0x00], "bit 2: clock battery")
        // Each opening of the cover counts once, however long it stays open.
        device.setCondition(.tamper, raised: true)
        device.setCondition(.tamper, raised: true)
        #expect(try read(.coverOpenCount) == [0x01, 0x00, 0x00])
        device.setCondition(.tamper, raised: false)
        device.setCondition(.tamper, raised: true)
        #expect(try read(.coverOpenCount) == [0x02, 0x00, 0x00])
        #expect(device.raisedConditions == [.tamper, .batteryLow, .clockBatteryLow])
    }
}
