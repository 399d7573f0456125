import CModbus
import Foundation
import MeterCore
import MeterIO
@testable import MeterSimulation
import Testing

/// A simulator in this process, read by libmodbus's client over a real pty and real TCP.
/// Serialized: every test blocks on libmodbus calls, and the machine has two cores.
@Suite(.serialized) struct EndToEndTests {
    func rtuSimulator(clock: any SimulationClock = ManualClock()) throws -> Simulator {
        let line = ScenarioLine(id: "rs485-1", settings: SerialSettings(baud: 9600), devices: [
            ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm120", seed: 1),
            ScenarioDevice(unit: UnitID(20), profileName: "generic-modbus-gas", seed: 2),
        ])
        let simulator = try Simulator(scenario: try .testScenario(lines: [line]), clock: clock)
        try simulator.start()
        return simulator
    }

    @Test func readsSDM120VoltageOverRTU() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        let words = try #require(client.readInput(unit: 1, address: 0, count: 2).value)
        let volts = ModbusTestClient.floatABCD(words)
        let device = try #require(simulator.device(endpoint: "rs485-1", unit: 1))
        let expected = try #require(device.pointValues()[PointName("voltage.l1")])
        #expect(volts == Float(expected)) // the clock stands still, so the value is exact
        #expect(abs(volts - 230) < 7)
        // A longer read across the map: current and active power too.
        let block = try #require(client.readInput(unit: 1, address: 0, count: 14).value)
        let amps = ModbusTestClient.floatABCD(Array(block[6...7]))
        let watts = ModbusTestClient.floatABCD(Array(block[12...13]))
        #expect(amps > 0 && watts > 0)
    }

    @Test func unitNotOnTheLineTimesOut() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        #expect(client.readInput(unit: 5, address: 0, count: 2).failure == .timeout)
        // The line still answers the units that are on it.
        #expect(client.readInput(unit: 1, address: 0, count: 2).value != nil)
        let stats = simulator.servers(RTULineServer.self)[0].statistics
        #expect(stats.frames == 2)
        #expect(stats.ignored == 1)
        #expect(stats.replies == 1)
    }

    @Test func faultsFromTheControlChannelOverRTU() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let control = ControlInterpreter(simulator: simulator)
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)

        #expect(control.execute("fault rs485-1 20 no_reply on") == ["ok"])
        #expect(client.readHolding(unit: 20, address: 0, count: 2).failure == .timeout)
        #expect(control.execute("fault rs485-1 20 clear") == ["ok"])
        #expect(client.readHolding(unit: 20, address: 0, count: 2).value != nil)

        #expect(control.execute("fault rs485-1 1 exception 4") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).failure == .exception(4))
        #expect(control.execute("fault rs485-1 1 exception off") == ["ok"])

        #expect(control.execute("fault rs485-1 1 bad_crc on") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).failure == ModbusTestClient.ClientError(cmodbus_error_bad_crc()))
        #expect(control.execute("fault rs485-1 1 clear") == ["ok"])

        #expect(control.execute("fault rs485-1 1 wrong_unit on") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).failure != nil)
        #expect(control.execute("fault rs485-1 1 clear") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).value != nil)

        #expect(control.execute("fault rs485-1 1 delay_ms 150") == ["ok"])
        let start = Date()
        #expect(client.readInput(unit: 1, address: 0, count: 2).value != nil)
        #expect(Date().timeIntervalSince(start) >= 0.15)

        #expect(control.execute("fault rs485-1 1 nonsense on").first?.hasPrefix("error: unknown fault") == true)
        #expect(control.execute("fault rs485-9 1 no_reply on").first?.hasPrefix("error: no device") == true)
    }

    @Test func readOutsideTheMapIsIllegalDataAddress() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        #expect(client.readInput(unit: 1, address: 0x2000, count: 2).failure == .exception(2))
    }

    @Test func writingTheGasValveCoilClosesTheValve() throws {
        let clock = ManualClock()
        let simulator = try rtuSimulator(clock: clock)
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        let gas = try #require(simulator.device(endpoint: "rs485-1", unit: 20))
        gas.set("flow.rate", to: 2)
        #expect(client.readCoils(unit: 20, address: 0, count: 1).value == [1])
        #expect(client.writeCoil(unit: 20, address: 0, on: false).failure == nil)
        #expect(gas.value(of: "valve.state") == 0)
        #expect(client.readCoils(unit: 20, address: 0, count: 1).value == [0])
        let total = gas.value(of: "volume.total")
        clock.advance(by: 3600)
        #expect(gas.value(of: "volume.total") == total)
        // Flow reads 0 on the wire too (f32 at holding 2).
        let flow = try #require(client.readHolding(unit: 20, address: 2, count: 2).value)
        #expect(ModbusTestClient.floatABCD(flow) == 0)
        // A broadcast (unit 0) reaches every device on the line and gets no answer.
        _ = client.writeCoil(unit: 0, address: 0, on: true)
        let deadline = Date().addingTimeInterval(2)
        while gas.value(of: "valve.state") != 1, Date() < deadline { usleep(10_000) }
        #expect(gas.value(of: "valve.state") == 1)
    }

    @Test func repliesArePacedAtTheLineBaudRate() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        _ = client.readInput(unit: 1, address: 0, count: 10)
        let start = Date()
        for _ in 0..<5 { #expect(client.readInput(unit: 1, address: 0, count: 10).value != nil) }
        let perTransaction = Date().timeIntervalSince(start) / 5
        // 8-byte request + 25-byte reply at 9600 8N1 plus two 3.5-character silences: 41.7 ms.
        #expect(perTransaction >= 0.040)
        #expect(perTransaction < 0.5)
    }

    func tcpSimulator() throws -> Simulator {
        let port = ScenarioTCPPort(id: "main", port: 0, devices: [
            ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm630", seed: 3),
        ])
        let simulator = try Simulator(scenario: try .testScenario(tcp: [port]), clock: ManualClock())
        try simulator.start()
        return simulator
    }

    @Test func readsSDM630OverTCP() throws {
        let simulator = try tcpSimulator()
        defer { simulator.stop() }
        let port = simulator.servers(TCPDeviceServer.self)[0].port
        #expect(port > 0)
        #expect(simulator.announcements == ["tcp \(port) units 1"])
        let client = try ModbusTestClient(tcpPort: port)
        let words = try #require(client.readInput(unit: 1, address: 0, count: 6).value)
        let device = try #require(simulator.device(endpoint: "main", unit: 1))
        let values = device.pointValues()
        for (i, phase) in ["l1", "l2", "l3"].enumerated() {
            let volts = ModbusTestClient.floatABCD(Array(words[(2 * i)...(2 * i + 1)]))
            #expect(volts == Float(values[PointName("voltage.\(phase)")] ?? 0))
        }
        // A second client at the same time.
        let second = try ModbusTestClient(tcpPort: port)
        #expect(second.readInput(unit: 1, address: 0x34, count: 2).value != nil)
        #expect(client.readInput(unit: 1, address: 0x48, count: 2).value != nil)
    }

    @Test func tcpUnknownUnitAndFaults() throws {
        let simulator = try tcpSimulator()
        defer { simulator.stop() }
        let control = ControlInterpreter(simulator: simulator)
        let client = try ModbusTestClient(tcpPort: simulator.servers(TCPDeviceServer.self)[0].port)
        #expect(client.readInput(unit: 7, address: 0, count: 2).failure == .exception(0x0B))
        #expect(control.execute("fault main 1 exception 6") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).failure == .exception(6))
        #expect(control.execute("fault main 1 clear") == ["ok"])
        #expect(control.execute("fault main 1 no_reply on") == ["ok"])
        #expect(client.readInput(unit: 1, address: 0, count: 2).failure == .timeout)
        #expect(control.execute("fault main 1 clear") == ["ok"])
        // libmodbus TCP drops a connection after a timeout; a new client works.
        let again = try ModbusTestClient(tcpPort: simulator.servers(TCPDeviceServer.self)[0].port)
        #expect(again.readInput(unit: 1, address: 0, count: 2).value != nil)
    }

    @Test func controlSetAndState() throws {
        let simulator = try rtuSimulator()
        defer { simulator.stop() }
        let control = ControlInterpreter(simulator: simulator)
        #expect(control.execute("set rs485-1 1 power.active.total 3500") == ["ok"])
        let state = control.execute("state rs485-1 1")
        #expect(state.last == "ok")
        #expect(state.contains("power.active.total=3500.0"))
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        let words = try #require(client.readInput(unit: 1, address: 0x0C, count: 2).value)
        // 3500.0f is 0x455AC000, high word first. libmodbus 3.1.6's modbus_set_float_abcd would
        // put 0x5A45 0x00C0 here (PROTOCOLS.md); the simulator encodes floats itself.
        #expect(words == [0x455A, 0xC000])
        #expect(ModbusTestClient.floatABCD(words) == 3500)
        #expect(control.execute("release rs485-1 1 power.active.total") == ["ok"])
        #expect(control.execute("bogus").first?.hasPrefix("error:") == true)
    }
}
