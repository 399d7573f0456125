import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterSimulation
import Testing

/// The CJ/T 188 driver in-process on a `SerialLineBus` against a simulated line: DI order
/// fallback, read address, valve read-back.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CJT188DriverTests {
    final class Line {
        let server: CJT188LineServer
        let bus: SerialLineBus
        let clock = SystemClock()

        init(_ meters: [(address: String, profile: String, diOrder: CJT188DIOrder?)]) throws {
            var simulated: [CJT188SimulatedMeter] = []
            for (index, m) in meters.enumerated() {
                let profile = try ProfileLoader.load(path: Paths.profiles + "/\(m.profile).yaml")
                let device = SimulatedDevice(unit: UnitID(UInt8(index + 1)), profile: profile, seed: UInt64(index + 7), clock: clock)
                simulated.append(CJT188SimulatedMeter(address: CJT188Address(written: m.address)!,
                                                      meterType: CJT188SimulatedMeter.meterType(for: profile),
                                                      device: device, diOrder: m.diOrder))
            }
            server = try CJT188LineServer(id: "line", settings: SerialSettings(baud: 9600), meters: simulated, clock: clock)
            try server.start()
            bus = SerialLineBus(config: BusConfig(id: BusID("line"),
                                                  transport: .serial(port: server.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                                                  protocolName: .cjt188, timeoutMs: 300, retries: 0))
        }

        func driver(_ address: String, profile: String) throws -> CJT188MeterDriver {
            let loaded = try ProfileLoader.load(path: Paths.profiles + "/\(profile).yaml")
            return try CJT188MeterDriver(device: DeviceConfig(id: DeviceID("m-\(address)"), bus: BusID("line"), address: address,
                                                              profile: loaded), bus: bus)
        }

        deinit {
            bus.close()
            server.stop()
        }
    }

    @Test func learnsTheDIOrderTheMeterAnswers() async throws {
        let line = try Line([("00000000001234", "cjt188-gas", .lowFirst)])
        let driver = try line.driver("00000000001234", profile: "cjt188-gas")
        #expect(driver.currentOrder == .highFirst)
        let first = try await driver.readCurrentData()
        #expect(driver.currentOrder == .lowFirst, "the meter answered the other order: keep it")
        #expect(first.currentUnit == .cubicMetre)
        // The meter ignored the first (high-first) request; from now on no request is wasted.
        let ignored = line.server.statistics.ignored
        #expect(ignored >= 1)
        _ = try await driver.readCurrentData()
        #expect(line.server.statistics.ignored == ignored)
    }

    @Test func readsTheAddressOfTheOnlyMeterOnALine() async throws {
        let line = try Line([("20240000012345", "cjt188-water-hot", nil)])
        let (type, address) = try await CJT188MeterDriver.readAddress(on: line.bus)
        #expect(type == .hotWater)
        #expect(address.written == "20240000012345")
    }

    @Test func twoMetersNeverAnswerTheWildcardTogether() async throws {
        let line = try Line([("00000000000001", "cjt188-water-cold", nil), ("00000000000002", "cjt188-water-cold", nil)])
        await #expect(throws: SerialBusError.self) { _ = try await CJT188MeterDriver.readAddress(on: line.bus) }
        // Addressed frames still reach each one.
        let one = try await line.driver("00000000000001", profile: "cjt188-water-cold").readCurrentData()
        let two = try await line.driver("00000000000002", profile: "cjt188-water-cold").readCurrentData()
        #expect(one.status.valve == .open && two.status.valve == .open)
    }

    @Test func valveCommandsReadTheStateBack() async throws {
        let line = try Line([("00000000001234", "cjt188-water-cold", nil)])
        let driver = try line.driver("00000000001234", profile: "cjt188-water-cold")
        let closed = await driver.execute(.valveClose, now: { 0 })
        #expect(closed.status == .confirmed, "\(closed)")
        #expect(closed.observed.first { $0.point.rawValue == "valve.state" }?.value == .bool(false))
        #expect(line.server.meters[0].device.value(of: "valve.state") == 0)
        let unsupported = await driver.execute(.relayOpen, now: { 0 })
        #expect(unsupported.status == .unsupported)
        let reopened = await driver.execute(.valveOpen, now: { 0 })
        #expect(reopened.status == .confirmed)
        #expect(line.server.meters[0].device.value(of: "valve.state") == 1)
    }
}
