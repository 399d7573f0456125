import MeterCore
@testable import MeterSimulation
import Testing

@Suite struct PhysicsTests {
    @Test func energyIntegratesConstantPowerExactly() throws {
        let clock = ManualClock()
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile("eastron-sdm120"), seed: 7, clock: clock)
        device.set("power.active.total", to: 1000)
        let before = try #require(device.value(of: "energy.import.total"))
        clock.advance(by: 3600)
        let after = try #require(device.value(of: "energy.import.total"))
        #expect(abs((after - before) - 1.0) < 1e-9)
        #expect(device.value(of: "power.active.total") == 1000)
    }

    @Test func energyFollowsTheLoadCurve() {
        // The model's own integration against an independent fine-grained sum of its power curve.
        var model = ElectricityModel(seed: 3, phases: 1)
        let start = 1_767_225_600.0 + 18 * 3600 // evening peak
        model.advance(to: start)
        let before = model.importKWh
        model.advance(to: start + 3600)
        var joules = 0.0
        let step = 0.1
        var t = start
        while t < start + 3600 {
            joules += model.powerW(at: t + step / 2) * step
            t += step
        }
        let expected = joules / 3_600_000
        #expect(expected > 0.2) // a real evening load, not a flat zero
        #expect(abs((model.importKWh - before) - expected) / expected < 0.002)
    }

    @Test func electricalQuantitiesAreConsistent() throws {
        let clock = ManualClock(start: 1_767_225_600 + 8 * 3600)
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile("eastron-sdm630"), seed: 11, clock: clock)
        let v = device.modelValues()
        let p = try #require(v["power.active.total"]), pf = try #require(v["power_factor.total"])
        #expect(p > 0)
        #expect((0.9...0.99).contains(pf))
        #expect(abs(try #require(v["frequency"]) - 50) < 0.1)
        var phaseSum = 0.0
        for phase in ["l1", "l2", "l3"] {
            let volts = try #require(v["voltage.\(phase)"]), amps = try #require(v["current.\(phase)"])
            let watts = try #require(v["power.active.\(phase)"])
            #expect(abs(volts - 230) < 7)
            #expect(abs(volts * amps * pf - watts) < 1e-6 * max(1, watts)) // I = P / (V·pf)
            phaseSum += watts
        }
        #expect(abs(phaseSum - p) < 1e-6 * p)
        let s = try #require(v["power.apparent.total"]), q = try #require(v["power.reactive.total"])
        #expect(abs(s * s - p * p - q * q) < 1e-6 * s * s)
    }

    @Test func trippedRelayStopsConsumption() throws {
        let clock = ManualClock()
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile("eastron-sdm120"), seed: 1, clock: clock)
        device.set("relay.state", to: 0)
        let before = try #require(device.value(of: "energy.import.total"))
        clock.advance(by: 7200)
        #expect(device.value(of: "energy.import.total") == before)
        #expect(device.value(of: "current.l1") == 0)
    }

    @Test func closingTheGasValveStopsFlowAndTotal() throws {
        let clock = ManualClock()
        let device = SimulatedDevice(unit: UnitID(20), profile: try TestPaths.profile("generic-modbus-gas"), seed: 5, clock: clock)
        device.set("flow.rate", to: 1.5)
        let start = try #require(device.value(of: "volume.total"))
        clock.advance(by: 3600)
        let open = try #require(device.value(of: "volume.total"))
        #expect(abs((open - start) - 1.5) < 1e-9)
        device.write(PointName("valve.state"), value: 0)
        clock.advance(by: 3600)
        #expect(device.value(of: "flow.rate") == 0)
        #expect(device.value(of: "volume.total") == open)
        #expect(device.pointValues()[PointName("valve.state")] == 0)
        device.write(PointName("valve.state"), value: 1)
        clock.advance(by: 1800)
        #expect(abs(try #require(device.value(of: "volume.total")) - open - 0.75) < 1e-9)
    }

    @Test func waterTotalsIntegrateFlow() throws {
        let clock = ManualClock()
        let device = SimulatedDevice(unit: UnitID(10), profile: try TestPaths.profile("tuf2000m-water"), seed: 9, clock: clock)
        device.set("flow.rate", to: 3.6)
        let start = try #require(device.value(of: "volume.total"))
        clock.advance(by: 600)
        #expect(abs(try #require(device.value(of: "volume.total")) - start - 0.6) < 1e-9)
        // 3.6 m³/h through DN50 is 0.509 m/s.
        #expect(abs(try #require(device.value(of: "flow.velocity")) - 0.5093) < 0.001)
    }

    @Test func sameSeedSameValuesOtherSeedOtherValues() throws {
        let profile = try TestPaths.profile("eastron-sdm120")
        let clock = ManualClock()
        let a = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 42, clock: clock)
        let b = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 42, clock: clock)
        let c = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 43, clock: clock)
        clock.advance(by: 1234)
        #expect(a.pointValues() == b.pointValues())
        #expect(a.pointValues() != c.pointValues())
    }

    @Test func unknownPointNamesReadZero() {
        let profile = DeviceProfile(name: "odd", manufacturer: "x", model: "y", medium: .electricity, points: [
            PointDefinition(name: PointName("voltage.l1"), table: .input, address: 0, type: .f32),
            PointDefinition(name: PointName("vendor.secret"), table: .input, address: 2, type: .u16),
        ])
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 1, clock: ManualClock())
        let values = device.pointValues()
        #expect(values[PointName("vendor.secret")] == 0)
        #expect((values[PointName("voltage.l1")] ?? 0) > 200)
    }
}
