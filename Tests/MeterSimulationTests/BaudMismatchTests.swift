import CModbus
import Foundation
import MeterCore
import MeterIO
import MeterProtocols
@testable import MeterSimulation
import Testing

/// A pty carries bytes at any rate, so a simulated line checks the rate the client set on its
/// end: a meter answers only a client at its own rate. Several meters answering one wildcard
/// collide on the wire. Real ptys, libmodbus's own client and the agent's termios port.
@Suite(.serialized) struct BaudMismatchTests {
    func simulator(_ lines: [ScenarioLine]) throws -> Simulator {
        let simulator = try Simulator(scenario: try .testScenario(lines: lines), clock: ManualClock())
        try simulator.start()
        return simulator
    }

    func rtuLine() -> ScenarioLine {
        var slow = ScenarioDevice(unit: UnitID(7), profileName: "eastron-sdm630", seed: 2)
        slow.baud = 2400
        return ScenarioLine(id: "rs485-1", settings: SerialSettings(baud: 9600), devices: [
            ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm120", seed: 1), slow,
            ScenarioDevice(unit: UnitID(20), profileName: "generic-modbus-gas", seed: 3),
        ])
    }

    @Test func aModbusMeterAnswersOnlyAClientAtItsOwnRate() throws {
        let simulator = try simulator([rtuLine()])
        defer { simulator.stop() }
        let server = simulator.servers(RTULineServer.self)[0]
        do {
            let fast = try ModbusTestClient(rtu: server.slavePath, baud: 9600)
            #expect(server.pty.terminalBaud == 9600, "the master reads the rate the client set on the slave")
            #expect(fast.readInput(unit: 1, address: 0, count: 2).value != nil)
            #expect(fast.readInput(unit: 7, address: 0, count: 2).value == nil, "a 2400 baud meter gives a 9600 baud client nothing valid")
        }
        let slow = try ModbusTestClient(rtu: server.slavePath, baud: 2400)
        #expect(server.pty.terminalBaud == 2400)
        #expect(slow.readInput(unit: 7, address: 0, count: 2).value != nil)
        #expect(slow.readInput(unit: 1, address: 0, count: 2).value == nil)
        #expect(ControlInterpreter(simulator: simulator).execute("list").contains { $0.hasPrefix("rs485-1 7 eastron-sdm630") && $0.contains(" baud=2400 ") })
        // The rate follows the device at run time (what commissioning a new rate does).
        try #require(simulator.device(endpoint: "rs485-1", unit: 1)).baud = 2400
        #expect(slow.readInput(unit: 1, address: 0, count: 2).value != nil)
    }

    @Test func mismatchedRepliesAreSilenceOrAFewGarbageBytes() throws {
        let simulator = try simulator([rtuLine()])
        defer { simulator.stop() }
        let server = simulator.servers(RTULineServer.self)[0]
        let port = try SerialPort(port: server.slavePath, settings: SerialSettings(baud: 19200))
        var lengths: [Int] = []
        for _ in 0..<8 {
            try port.write(ModbusCRC.appending(to: [1, 0x04, 0x00, 0x00, 0x00, 0x02]))
            var got: [UInt8] = []
            while true {
                let chunk = try port.read(maxBytes: 64, timeoutMs: 150)
                if chunk.isEmpty { break }
                got += chunk
            }
            lengths.append(got.count)
        }
        #expect(lengths.allSatisfy { $0 < 9 }, "never a whole 9-byte reply: \(lengths)")
        #expect(lengths.contains(0) && lengths.contains { $0 > 0 }, "both silence and garbage over 8 requests: \(lengths)")
    }

    @Test func readDeviceIdentificationFromTheProfile() throws {
        let simulator = try simulator([rtuLine()])
        defer { simulator.stop() }
        let client = try ModbusTestClient(rtu: simulator.servers(RTULineServer.self)[0].slavePath)
        let identified = try #require(client.readDeviceIdentification(unit: 1).value)
        #expect(String(decoding: identified, as: UTF8.self).contains("Eastron"))
        #expect(String(decoding: identified, as: UTF8.self).contains("SDM120"))
        // A profile without an identification block: libmodbus answers "illegal function".
        #expect(client.readDeviceIdentification(unit: 20).failure == .exception(1))
    }

    func dltLine(baud: Int = 2400) -> ScenarioLine {
        var first = ScenarioDevice(unit: UnitID(1), profileName: "dlt645-2007-generic", seed: 1)
        first.address = "000000001201"
        var second = ScenarioDevice(unit: UnitID(2), profileName: "dlt645-2007-generic", seed: 2)
        second.address = "000000003402"
        var third = ScenarioDevice(unit: UnitID(3), profileName: "dlt645-2007-generic", seed: 3)
        third.address = "000000005603"
        third.baud = 9600
        var line = ScenarioLine(id: "dlt", settings: SerialSettings(baud: baud), devices: [first, second, third])
        line.protocolName = .dlt645
        return line
    }

    /// Sends `frame` and returns what arrives within 300 ms.
    func exchange(_ frame: DLT645Frame, on port: SerialPort) throws -> [DLT645StreamItem] {
        try port.write(try frame.encoded())
        var decoder = DLT645StreamDecoder()
        while true {
            let chunk = try port.read(maxBytes: 256, timeoutMs: 300)
            if chunk.isEmpty { break }
            decoder.append(chunk)
        }
        var items: [DLT645StreamItem] = []
        while let item = decoder.next() { items.append(item) }
        return items
    }

    @Test func dlt645WildcardRepliesCollideAndAbbreviatedAddressesSingleOneOut() throws {
        let simulator = try simulator([dltLine()])
        defer { simulator.stop() }
        let server = simulator.servers(DLT645LineServer.self)[0]
        let port = try SerialPort(port: server.slavePath, settings: SerialSettings(baud: 2400))
        // Two meters at 2400 answer at once: one garbled frame, not two clean ones.
        let collided = try exchange(DLT645Request.readAddress(), on: port)
        #expect(collided.count == 1)
        if case .corrupt = collided.first {} else { Issue.record("expected a corrupt frame, got \(collided)") }
        // Low byte fixed, the rest wildcards: only 000000003402 answers.
        let abbreviated = DLT645Frame(address: try DLT645Address(wire: [0x02, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA]), control: .readAddress)
        guard case let .frame(reply) = try exchange(abbreviated, on: port).first else { Issue.record("no reply"); return }
        #expect(try DLT645Reply.address(reply).written == "000000003402")
        // The 9600 baud meter answers a 9600 baud client alone.
        let fast = try SerialPort(port: server.slavePath, settings: SerialSettings(baud: 9600))
        guard case let .frame(only) = try exchange(DLT645Request.readAddress(), on: fast).first else { Issue.record("no reply at 9600"); return }
        #expect(try DLT645Reply.address(only).written == "000000005603")
    }

    @Test func scenarioDevicesTakeABaudKey() throws {
        let text = """
        profiles: \(TestPaths.root)/Hardware/profiles
        lines:
          - id: rs485-1
            baud: 9600
            devices:
              - {unit: 1, profile: eastron-sdm120}
              - {unit: 7, profile: eastron-sdm630, baud: 2400}
        """
        let path = NSTemporaryDirectory() + "baud-scenario-\(getpid()).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let scenario = try ScenarioLoader.load(path: path)
        #expect(scenario.lines[0].devices.map(\.baud) == [nil, 2400])
    }
}

extension ModbusTestClient {
    /// Read Device Identification (0x2B/0x0E, basic objects): libmodbus sends the raw request,
    /// but its receive functions do not know this reply's length, so the reply is read from the
    /// port and framed here. Returns the reply PDU.
    func readDeviceIdentification(unit: Int32) -> Result<[UInt8], ClientError> {
        let request = [UInt8(unit)] + ModbusDeviceIdentification.basicRequest
        guard modbus_send_raw_request(context, request, Int32(request.count)) != -1 else { return .failure(ClientError(errno)) }
        var framer = ModbusRTUFramer(direction: .response)
        var pfd = pollfd(fd: modbus_get_socket(context), events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 256)
        while poll(&pfd, 1, 400) > 0 {
            let n = read(pfd.fd, &buffer, buffer.count)
            guard n > 0 else { break }
            framer.append(buffer[0..<n])
            if let frame = framer.nextFrame() {
                return frame.isException ? .failure(.exception(Int32(frame.pdu.last ?? 0))) : .success(Array(frame.pdu))
            }
        }
        return .failure(.timeout)
    }
}
