import Foundation
import MeterCore
import Synchronization
import Testing

/// Paths of the repository and the built binaries, found from this file and the test runner.
enum Paths {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binDir: URL {
        if let dir = ProcessInfo.processInfo.environment["METERAGENT_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    static var meteragent: String { binDir.appendingPathComponent("meteragent").path }
    static var metersim: String { binDir.appendingPathComponent("metersim").path }
    static var profiles: String { repoRoot.appendingPathComponent("Hardware/profiles").path }

    static var python: String {
        if let p = ProcessInfo.processInfo.environment["METERAGENT_PYTHON"] { return p }
        return repoRoot.appendingPathComponent(".venv/bin/python").path
    }

    static func interopScript(_ name: String) -> String {
        repoRoot.appendingPathComponent("Tests/Interop/\(name)").path
    }

    /// A control socket path of its own for one agent, in a directory of this test run's.
    static func controlSocket() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meteragent-it-sockets-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return dir.appendingPathComponent("\(UUID().uuidString.prefix(8)).sock").path
    }

    /// A fresh directory for one test's files.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meteragent-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// What a child wrote to its stdout and stderr, read by a thread per pipe until end of file
/// (Foundation's readabilityHandler now and then never reported the end of file).
private final class CollectedOutput: Sendable {
    private let state = Mutex(State())

    private struct State {
        var bytes: [[UInt8]] = [[], []]
        var closedPipes = 0
    }

    func collect(_ handle: FileHandle, into stream: Int) throws {
        try DedicatedThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { break }
                state.withLock { $0.bytes[stream] += buffer[..<n] }
            }
            state.withLock { $0.closedPipes += 1 }
        }
    }

    func text(_ stream: Int) -> String { state.withLock { String(decoding: $0.bytes[stream], as: UTF8.self) } }
    var complete: Bool { state.withLock { $0.closedPipes == 2 } }
}

/// A child process whose output is collected line by line; killed by pid when the test ends.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: Process is used from the test's thread only; the output is locked.
    let process = Process()
    private let output = CollectedOutput()

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = environment ?? [:]
        // Each agent gets a control socket of its own unless a test names one: agents of tests
        // (or of test runs) that overlap must not find each other's socket and refuse to start.
        if executable == Paths.meteragent && environment["METERAGENT_CONTROL_SOCKET"] == nil {
            environment["METERAGENT_CONTROL_SOCKET"] = try Paths.controlSocket()
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try output.collect(out.fileHandleForReading, into: 0)
        try output.collect(err.fileHandleForReading, into: 1)
    }

    var stdout: String { output.text(0) }
    var stderr: String { output.text(1) }
    var pid: Int32 { process.processIdentifier }

    /// Waits until stdout has a line satisfying `predicate`, or fails after `timeout` seconds.
    @discardableResult
    func waitForLine(timeout: Double = 15, _ predicate: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = stdout.split(separator: "\n").map(String.init).first(where: predicate) { return line }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)
                if let line = stdout.split(separator: "\n").map(String.init).first(where: predicate) { return line }
                throw HarnessError("\(process.executableURL!.lastPathComponent) exited with \(process.terminationStatus): \(stderr)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for output from \(process.executableURL!.lastPathComponent); stdout: \(stdout) stderr: \(stderr)")
    }

    /// Waits for exit, killing the process if it takes longer than `timeout` seconds.
    @discardableResult
    func wait(timeout: Double = 30) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { stop() }
        process.waitUntilExit()
        // Output is complete when both pipes reach end of file (bounded: a grandchild may hold them).
        let drained = Date().addingTimeInterval(5)
        while !output.complete && Date() < drained { Thread.sleep(forTimeInterval: 0.01) }
        return process.terminationStatus
    }

    func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop(signal: SIGKILL) }
}

/// Runs a command to completion (bounded) and returns its exit status and output.
func runCommand(_ executable: String, _ arguments: [String], timeout: Double = 30) throws -> (status: Int32, stdout: String, stderr: String) {
    let child = try ChildProcess(executable, arguments)
    let status = child.wait(timeout: timeout)
    return (status, child.stdout, child.stderr)
}

/// `meteragent probe` of the meter on a simulator's line (9600 8N1) with `profile`.
func probe(_ pty: String, profile: String, _ options: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
    try runCommand(Paths.meteragent, ["probe", "--port", pty, "--baud", "9600", "--parity", "none"] + options
                   + ["--profile", profile, "--profiles", Paths.profiles])
}

/// `metersim` serving a scenario, with its control socket.
final class Simulator {
    let child: ChildProcess
    let directory: URL
    /// Line id → pty path, from the simulator's `line <id> <path>` lines.
    private(set) var lines: [String: String] = [:]
    /// TCP ports it listens on, in order.
    private(set) var tcpPorts: [Int] = []
    var controlSocket: String { directory.appendingPathComponent("control.sock").path }

    /// `scenario` is YAML without the `control:` and `profiles:` keys; the harness adds them.
    init(scenario: String) throws {
        directory = try Paths.temporaryDirectory()
        let file = directory.appendingPathComponent("scenario.yaml")
        let text = "profiles: \(Paths.profiles)\ncontrol: \(directory.appendingPathComponent("control.sock").path)\n" + scenario
        try text.write(to: file, atomically: true, encoding: .utf8)
        child = try ChildProcess(Paths.metersim, [file.path])
        try child.waitForLine { $0 == "ready" }
        for line in child.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.first == "line", words.count >= 3 { lines[String(words[1])] = String(words[2]) }
            if words.first == "tcp", words.count >= 2, let port = Int(words[1]) { tcpPorts.append(port) }
        }
    }

    /// Sends one control command and returns the reply text.
    @discardableResult
    func control(_ command: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(controlSocket.utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, c) in path.prefix(raw.count - 1).enumerated() { raw[i] = UInt8(bitPattern: c) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect \(controlSocket): errno \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array((command + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // End of our input ends the session; `quit` would stop the simulator itself.
        shutdown(fd, Int32(SHUT_WR))
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// `state` of one device (a unit id, or a meter address) as point → value.
    func state(_ line: String, _ unit: some CustomStringConvertible) throws -> [String: Double] {
        var values: [String: Double] = [:]
        for row in try control("state \(line) \(unit)").split(separator: "\n") {
            let parts = row.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let v = Double(parts[1].trimmingCharacters(in: .whitespaces)) {
                values[String(parts[0]).trimmingCharacters(in: .whitespaces)] = v
            }
        }
        return values
    }

    func stop() {
        child.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}

/// Parses the agent's JSON lines into dictionaries.
func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// A site config file in `directory` with the given YAML body. Unless the body has its own
/// `store:` section, the agent's outbox goes into `directory` too, so tests never share (or
/// touch) the default `/var/lib/meteragent/outbox.db`.
func writeSite(_ yaml: String, in directory: URL, name: String = "site.yaml") throws -> String {
    let file = directory.appendingPathComponent(name)
    let hasStore = yaml.split(separator: "\n").contains { $0.hasPrefix("store:") }
    let store = hasStore ? "" : "store: {path: \(directory.appendingPathComponent("outbox.db").path)}\n"
    try ("profiles: \(Paths.profiles)\n" + store + yaml).write(to: file, atomically: true, encoding: .utf8)
    return file.path
}

/// Two linked ptys made by socat (a null-modem cable in software): `meter` and `agent` are
/// symlinks in `directory` to either end. Stop the returned process to remove them.
func socatPtyPair(in directory: URL) throws -> (socat: ChildProcess, meter: String, agent: String) {
    let meter = directory.appendingPathComponent("meter").path
    let agent = directory.appendingPathComponent("agent").path
    let socat = try ChildProcess("/usr/bin/socat", ["pty,raw,echo=0,link=\(meter)", "pty,raw,echo=0,link=\(agent)"])
    let deadline = Date().addingTimeInterval(10)
    while !(FileManager.default.fileExists(atPath: meter) && FileManager.default.fileExists(atPath: agent)), Date() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
    }
    guard FileManager.default.fileExists(atPath: agent) else { throw HarnessError("socat made no pty pair: \(socat.stderr)") }
    return (socat, meter, agent)
}
