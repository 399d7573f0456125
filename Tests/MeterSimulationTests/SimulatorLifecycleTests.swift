import Foundation
import MeterCore
@testable import MeterSimulation
import Testing

@Suite(.serialized) struct SimulatorLifecycleTests {
    /// Several TCP ports at once (the benchmark serves 100 this way), each answering, then all stopped.
    @Test func manyTCPPortsServeAndStop() throws {
        let ports = (0..<20).map { _ in ScenarioTCPPort(port: 0, devices: [ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm630")]) }
        let simulator = try Simulator(scenario: try .testScenario(tcp: ports))
        try simulator.start()
        let numbers = simulator.servers(TCPDeviceServer.self).map(\.port)
        #expect(Set(numbers).count == 20)
        for port in numbers {
            let client = try ModbusTestClient(tcpPort: port)
            #expect(client.readInput(unit: 1, address: 0, count: 2).value != nil)
        }
        simulator.stop()
        // Stopped means closed: nobody listens any more.
        #expect(throws: ModbusTestClient.ClientError.self) { _ = try ModbusTestClient(tcpPort: numbers[0]) }
    }

    @Test func linkAndControlSocketAreCreatedAndRemoved() throws {
        let dir = NSTemporaryDirectory() + "metersim-test-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let link = dir + "/ttySIM0", socketPath = dir + "/sim.sock"
        var scenario = try Scenario.testScenario(lines: [
            ScenarioLine(id: "rs485-1", link: link, devices: [ScenarioDevice(unit: UnitID(1), profileName: "eastron-sdm120")]),
        ])
        scenario.control = socketPath
        let simulator = try Simulator(scenario: scenario)
        try simulator.start()
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == simulator.servers(RTULineServer.self)[0].slavePath)
        #expect(simulator.announcements == ["line rs485-1 \(simulator.servers(RTULineServer.self)[0].slavePath)"])

        // The control socket answers line by line.
        let replies = try controlSession(socketPath, ["fault rs485-1 1 no_reply on", "state rs485-1 1", "quit"])
        #expect(replies.first == "ok")
        #expect(replies.contains("faults=no_reply"))
        #expect(replies.last == "ok")
        #expect(simulator.quitRequested)
        #expect(simulator.device(endpoint: "rs485-1", unit: 1)?.faults.noReply == true)

        // The link reaches the pty: libmodbus opens it like a serial port.
        _ = try controlSession(socketPath, ["fault rs485-1 1 clear"])
        let client = try ModbusTestClient(rtu: link)
        #expect(client.readInput(unit: 1, address: 0, count: 2).value != nil)

        simulator.stop()
        #expect(!FileManager.default.fileExists(atPath: socketPath))
        var info = stat()
        #expect(lstat(link, &info) != 0)
    }

    /// Sends commands on the unix socket and returns every reply line.
    func controlSession(_ path: String, _ commands: [String]) throws -> [String] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(rc == 0)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var lines: [String] = []
        for command in commands {
            let bytes = Array((command + "\n").utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var pending = ""
            // Read until this command's final ok/error line.
            while true {
                var chunk = [UInt8](repeating: 0, count: 1024)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                try #require(n > 0)
                pending += String(decoding: chunk.prefix(n), as: UTF8.self)
                if pending.hasSuffix("ok\n") || pending.contains("error:") && pending.hasSuffix("\n") { break }
            }
            lines += pending.split(separator: "\n").map(String.init)
        }
        return lines
    }

    /// `swift build` and `swift test` build `metersim` with the tests: a missing binary is a broken
    /// build and fails here (it used to skip this test).
    @Test func metersimExecutableServesAndStopsOnSIGTERM() throws {
        let binary = try #require(MetersimBinary.path, "metersim is not built next to the test bundle \(CommandLine.arguments[0])")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        let dir = NSTemporaryDirectory() + "metersim-exe-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scenarioPath = dir + "/s.yaml"
        try """
        profiles: \(TestPaths.root)/Hardware/profiles
        lines:
          - id: l1
            link: \(dir)/tty0
            devices: [{unit: 1, profile: eastron-sdm120}]
        tcp:
          - port: 0
            devices: [{unit: 1, profile: eastron-sdm630}, {unit: 2, profile: eastron-sdm120}]
        """.write(toFile: scenarioPath, atomically: true, encoding: .utf8)
        process.arguments = [scenarioPath, "--duration", "20"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var text = ""
        let deadline = Date().addingTimeInterval(10)
        while !text.contains("ready\n"), Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.last == "ready")
        #expect(lines.first?.hasPrefix("line l1 /dev/pts/") == true)
        let tcpLine = try #require(lines.first { $0.hasPrefix("tcp ") })
        #expect(tcpLine.hasSuffix(" units 1,2"))
        let port = try #require(Int(tcpLine.split(separator: " ")[1]))
        let client = try ModbusTestClient(tcpPort: port)
        #expect(client.readInput(unit: 2, address: 0, count: 2).value != nil)
        process.terminate() // SIGTERM
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        var info = stat()
        #expect(lstat(dir + "/tty0", &info) != 0) // the link is gone
    }
}

enum MetersimBinary {
    /// `metersim` in the same build directory as the running test bundle, if it was built.
    static let path: String? = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = url.appendingPathComponent("metersim").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return nil
    }()
}
