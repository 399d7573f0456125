import Foundation
import MeterCore
@testable import MeterSimulation
import Testing

/// pymodbus shares no code with libmodbus or with us: reading the simulator with it catches a bug
/// that a libmodbus client would share with the libmodbus-built replies.
enum Pymodbus {
    /// `make test` and CI name the interpreter in `METERAGENT_PYTHON`: then a missing interpreter
    /// or a failing `import pymodbus` is a broken setup and fails the suite instead of skipping it.
    static let required = ProcessInfo.processInfo.environment["METERAGENT_PYTHON"] != nil
    /// `METERAGENT_PYTHON`, or else the repository's venv (`make py-deps`).
    static let path = ProcessInfo.processInfo.environment["METERAGENT_PYTHON"] ?? TestPaths.root + "/.venv/bin/python"

    /// Why pymodbus cannot run, or nil when `import pymodbus` works.
    static let problem: String? = {
        guard FileManager.default.isExecutableFile(atPath: path) else { return "no Python interpreter at \(path)" }
        do {
            let result = try run(path, ["-c", "import pymodbus"], stderr: true)
            return result.status == 0 ? nil : "\(path) -c 'import pymodbus' exited with \(result.status): \(result.output)"
        } catch {
            return "cannot run \(path): \(error)"
        }
    }()

    /// Run the suite when pymodbus is there, and always when the Makefile asked for it.
    static var enabled: Bool { required || problem == nil }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// The interpreter, or an error that fails the test saying what is missing.
    static func python() throws -> String {
        if let problem { throw Missing(description: "pymodbus peer unavailable: \(problem) (METERAGENT_PYTHON is set, so this is a failure, not a skip)") }
        return path
    }

    static let script = """
    import sys
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient
    kind, target, unit, fc, addr, count = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    if kind == "rtu":
        c = ModbusSerialClient(target, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=1, retries=0)
    else:
        c = ModbusTcpClient("127.0.0.1", port=int(target), timeout=1, retries=0)
    assert c.connect()
    read = c.read_input_registers if fc == 4 else c.read_holding_registers
    r = read(addr, count=count, device_id=unit)
    print("error %s" % getattr(r, "exception_code", "?") if r.isError() else " ".join(str(x) for x in r.registers))
    c.close()
    """

    /// Runs a command to its end; `stderr` folds its error output into `output` (for diagnostics).
    static func run(_ executable: String, _ arguments: [String], stderr: Bool = false) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = stderr ? pipe : FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Registers as pymodbus read them, or `error N`.
    static func read(_ kind: String, _ target: String, unit: Int, function: Int, address: Int, count: Int) throws -> String {
        try run(try python(), ["-c", script, kind, target, String(unit), String(function), String(address), String(count)]).output
    }
}

@Suite(.serialized, .enabled(if: Pymodbus.enabled, "pymodbus is installed in .venv (make py-deps), or METERAGENT_PYTHON is set"))
struct PymodbusPeerTests {
    static func float(_ text: String) -> Float? {
        let words = text.split(separator: " ").compactMap { UInt32($0) }
        guard words.count == 2 else { return nil }
        return Float(bitPattern: words[0] << 16 | words[1])
    }

    @Test func pymodbusReadsTheRTULine() throws {
        _ = try Pymodbus.python()
        let line = ScenarioLine(id: "l", devices: [ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm120", seed: 4),
                                                   ScenarioDevice(unit: UnitID(10), profileName: "tuf2000m-water", seed: 5)])
        let simulator = try Simulator(scenario: try .testScenario(lines: [line]), clock: ManualClock())
        try simulator.start()
        defer { simulator.stop() }
        let path = simulator.servers(RTULineServer.self)[0].slavePath
        let volts = try #require(Self.float(try Pymodbus.read("rtu", path, unit: 1, function: 4, address: 0, count: 2)))
        let sdm = try #require(simulator.device(endpoint: "l", unit: 1))
        #expect(volts == Float(sdm.pointValues()[PointName("voltage.l1")] ?? 0))
        // TUF-2000M floats are low word first (CDAB): PROTOCOLS.md's `80 6B 42 12` ≈ 36.625.
        let water = try #require(simulator.device(endpoint: "l", unit: 10))
        water.set("flow.rate", to: Double(Float(bitPattern: 0x4212_806B)))
        #expect(try Pymodbus.read("rtu", path, unit: 10, function: 3, address: 0, count: 2) == "\(0x806B) \(0x4212)")
    }

    @Test func pymodbusReadsTCPAndSeesTheGatewayException() throws {
        _ = try Pymodbus.python()
        let port = ScenarioTCPPort(port: 0, devices: [ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm630", seed: 6)])
        let simulator = try Simulator(scenario: try .testScenario(tcp: [port]), clock: ManualClock())
        try simulator.start()
        defer { simulator.stop() }
        let target = String(simulator.servers(TCPDeviceServer.self)[0].port)
        let volts = try #require(Self.float(try Pymodbus.read("tcp", target, unit: 1, function: 4, address: 2, count: 2)))
        let device = try #require(simulator.device(endpoint: target, unit: 1))
        #expect(volts == Float(device.pointValues()[PointName("voltage.l2")] ?? 0))
        #expect(try Pymodbus.read("tcp", target, unit: 9, function: 4, address: 0, count: 2) == "error 11")
    }
}
