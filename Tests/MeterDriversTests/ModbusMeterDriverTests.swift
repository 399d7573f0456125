import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterTestSupport
import Testing

/// Reads through ModbusBus + ModbusMeterDriver from a server built on libmodbus's own server side.
@Suite struct ModbusMeterDriverTests {
    static let profile = DeviceProfile(
        name: "test-meter", manufacturer: "Test", model: "T1", medium: .electricity,
        points: [
            PointDefinition(name: PointName("power.total"), table: .holding, address: 0, type: .f32, wordOrder: .ABCD, unit: "W"),
            PointDefinition(name: PointName("voltage.l1"), table: .holding, address: 2, type: .i16,
                            scale: ExactDecimal("0.1")!, unit: "V"),
            PointDefinition(name: PointName("current.l1"), table: .holding, address: 3, type: .i16,
                            scale: ExactDecimal("0.1")!, unit: "A"),
            PointDefinition(name: PointName("energy.import.total"), table: .holding, address: 10, type: .u32,
                            wordOrder: .CDAB, scale: ExactDecimal("0.01")!, unit: "kWh", billing: true),
            PointDefinition(name: PointName("frequency"), table: .input, address: 5, type: .u16,
                            scale: ExactDecimal("0.01")!, unit: "Hz"),
            PointDefinition(name: PointName("relay.state"), table: .coil, address: 3, type: .bool),
        ]
    )

    static func registers() -> [UInt16: UInt16] {
        var holding: [UInt16: UInt16] = [:]
        // Hand-encoded, not through our codec (which the driver decodes with), nor libmodbus's
        // float setters (they swap bytes in 3.1.6, PROTOCOLS.md).
        holding[0] = 0x449A                          // 1234.5 W: f32 0x449A5000 (1.205566… × 2^10), ABCD
        holding[1] = 0x5000
        holding[2] = 2305                            // 230.5 V
        holding[3] = UInt16(bitPattern: -123)        // -12.3 A
        holding[10] = 0xCD15                         // 1234567.89 kWh: u32 123456789 = 0x075BCD15, CDAB
        holding[11] = 0x075B
        return holding
    }

    static func startServer(silentUnits: Set<UInt8> = []) throws -> TestModbusServer {
        let server = try TestModbusServer(holding: registers(), input: [5: 5_001], coils: [3: true], silentUnits: silentUnits)
        try server.start()
        return server
    }

    static func device(_ id: String, unit: UInt8, profile: DeviceProfile = profile) -> DeviceConfig {
        DeviceConfig(id: DeviceID(id), bus: BusID("tcp-test"), unit: UnitID(unit), profile: profile)
    }

    @Test func readsEveryTypeThroughTheBus() async throws {
        let server = try Self.startServer()
        defer { server.stop() }
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000)
        defer { bus.close() }
        let driver = try ModbusMeterDriver(device: Self.device("meter-1", unit: 1), bus: bus)
        // Holding 0–11 coalesce into one read; input and coil tables need one each.
        #expect(driver.plan.count == 3)

        let readings = await driver.read(now: { 42 })
        #expect(readings.map(\.point.rawValue) == Self.profile.points.map(\.name.rawValue))
        for reading in readings {
            #expect(reading.quality == .good, "\(reading.point): \(reading.quality)")
            #expect(reading.device == DeviceID("meter-1"))
            #expect(reading.timestampMs == 42)
        }
        let values = Dictionary(uniqueKeysWithValues: readings.map { ($0.point.rawValue, $0.value) })
        #expect(values["power.total"] == .real(1234.5))
        #expect(values["voltage.l1"]??.description == "230.5")
        #expect(values["current.l1"]??.description == "-12.3")
        #expect(values["energy.import.total"]??.description == "1234567.89")
        #expect(values["frequency"]??.description == "50.01")
        #expect(values["relay.state"] == .bool(true))
        #expect(readings.first { $0.point.rawValue == "energy.import.total" }?.billing == true)
        #expect(bus.statistics.successes == 3)
    }

    @Test func readsOnlyTheRequestedPoints() async throws {
        let server = try Self.startServer()
        defer { server.stop() }
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000)
        defer { bus.close() }
        let driver = try ModbusMeterDriver(device: Self.device("meter-1", unit: 1), bus: bus)
        let wanted = [PointName("relay.state"), PointName("voltage.l1"), PointName("no.such.point")]
        #expect(driver.unknownPoints(wanted) == [PointName("no.such.point")])
        let readings = await driver.read(points: wanted, now: { 7 })
        // Profile order, not request order; unknown names are left out.
        #expect(readings.map(\.point.rawValue) == ["voltage.l1", "relay.state"])
        #expect(readings.allSatisfy { $0.quality == .good })
        #expect(bus.statistics.transactions == 2)
    }

    @Test func exceptionMarksOnlyTheFailedRequest() async throws {
        let server = try Self.startServer()
        defer { server.stop() }
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000, retries: 2)
        defer { bus.close() }
        var profile = Self.profile
        // Beyond the server's 100 mapped holding registers: exception 2, illegal data address.
        profile.points.insert(PointDefinition(name: PointName("unmapped"), table: .holding, address: 500, type: .u16), at: 1)
        let driver = try ModbusMeterDriver(device: Self.device("meter-x", unit: 1, profile: profile), bus: bus)
        let readings = await driver.read(now: { 1 })
        #expect(readings.count == profile.points.count)
        let unmapped = try #require(readings.first { $0.point.rawValue == "unmapped" })
        #expect(unmapped.quality == .exception(2))
        #expect(unmapped.value == nil)
        #expect(readings.filter { $0.quality == .good }.count == profile.points.count - 1)
        // Exceptions are answers: never retried.
        #expect(bus.statistics.exceptions == 1)
        #expect(bus.statistics.retries == 0)

        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 500, count: 1)
            Issue.record("an unmapped register was read")
        } catch {
            #expect(error.kind == .exception(.illegalDataAddress))
            #expect(error.function == 0x03)
            #expect(error.address == 500)
            #expect(error.unit == UnitID(1))
            #expect(error.description.contains("illegal data address"))
        }
    }

    @Test func deadUnitTimesOutThenBacksOffWithoutStallingOthers() async throws {
        let server = try Self.startServer(silentUnits: [99])
        defer { server.stop() }
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 200, retries: 1)
        defer { bus.close() }
        let dead = try ModbusMeterDriver(device: Self.device("dead", unit: 99), bus: bus)
        let alive = try ModbusMeterDriver(device: Self.device("alive", unit: 1), bus: bus)
        let voltage = [PointName("voltage.l1")]

        for _ in 0..<3 {
            let readings = await dead.read(points: voltage, now: { 0 })
            #expect(readings.map(\.quality) == [.timeout])
            #expect(readings.first?.value == nil)
        }
        #expect(bus.statistics.timeouts == 6) // each of the 3 transactions: first try + 1 retry
        #expect(bus.statistics.retries == 3)

        // Three silent transactions in a row: the unit is skipped without touching the wire.
        let skipped = await dead.read(now: { 0 })
        #expect(skipped.count == Self.profile.points.count)
        #expect(skipped.allSatisfy { $0.quality == .backoff })
        #expect(bus.statistics.backoffSkips == 3)
        #expect(bus.statistics.timeouts == 6)

        // The live meter on the same bus is unaffected.
        let good = await alive.read(points: voltage, now: { 0 })
        #expect(good.map(\.quality) == [.good])
        #expect(good.first?.value?.description == "230.5")
    }
}
