import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// Why a scenario could not be started (a pty, a port, a symlink or the control socket).
public struct SimulatorError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Serves a whole scenario: builds the devices, opens the ptys and ports, runs one thread per
/// line and per TCP port, and the control channel. `stop()` undoes all of it.
public final class Simulator: Sendable {
    public let scenario: Scenario
    /// A server per scenario line (in scenario order, whatever its protocol), then one per TCP port.
    public let servers: [any LineServer]
    public let clock: any SimulationClock
    private let control: ControlChannel?
    private let createdLinks: [String]
    private let quit = Mutex(false)
    private let stopped = Mutex(false)

    /// Opens everything (ptys, listening sockets, the control socket, symlinks) but serves
    /// nothing until `start()`. `controlPath` overrides the scenario's control socket.
    public init(scenario: Scenario, clock: any SimulationClock = SystemClock(), seed: UInt64 = 1,
                controlPath: String? = nil) throws(SimulatorError) {
        self.scenario = scenario
        self.clock = clock
        let builder = DeviceBuilder(profiles: scenario.profiles, clock: clock, seed: scenario.seed ?? seed)
        var servers: [any LineServer] = []
        var links: [String] = []
        do throws(SimulatorError) {
            for spec in scenario.lines {
                guard let family = LineFamily.named(spec.protocolName) else {
                    throw SimulatorError("line \(spec.id): no simulated lines of protocol '\(spec.protocolName)'")
                }
                servers.append(try family.make(spec, builder))
            }
            for (index, spec) in scenario.tcp.enumerated() {
                servers.append(try TCPDeviceServer.make(spec, index: index, builder: builder))
            }
            let controlChannel = try (controlPath ?? scenario.control).map { (path) throws(SimulatorError) in try ControlChannel(path: path) }
            // Links last: a run that fails (a port in use, say) must not replace the links of
            // another instance that is still serving.
            for (spec, server) in zip(scenario.lines, servers) {
                guard let link = spec.link, let target = server.linkTarget else { continue }
                try Self.makeLink(link, to: target)
                links.append(link)
            }
            self.servers = servers
            self.createdLinks = links
            self.control = controlChannel
        } catch {
            for link in links { unlink(link) }
            throw error
        }
    }

    /// The servers of one kind (`servers(RTULineServer.self)`), in scenario order.
    public func servers<Server: LineServer>(_ kind: Server.Type) -> [Server] { servers.compactMap { $0 as? Server } }

    /// What `metersim` prints before `ready`: `line <id> <slave path>` and `tcp <port> units 1,2`.
    public var announcements: [String] { servers.map(\.announcement) }

    /// Starts serving.
    public func start() throws(SimulatorError) {
        do {
            for server in servers { try server.start() }
            try control?.start(ControlInterpreter(simulator: self))
        } catch {
            stop()
            throw SimulatorError("cannot start: \(error)")
        }
    }

    /// Stops every thread, closes sockets and removes the symlinks. Safe to call twice.
    public func stop() {
        let already = stopped.withLock { s -> Bool in defer { s = true }; return s }
        if already { return }
        control?.stop()
        for server in servers { server.stop() }
        for link in createdLinks { unlink(link) }
    }

    /// Points the scenario's link of line `id` (if it has one) at `target`: a reader plugged in
    /// again has a new pty.
    func relink(_ id: String, to target: String) throws(SimulatorError) {
        guard let link = scenario.lines.first(where: { $0.id == id })?.link else { return }
        unlink(link)
        try Self.makeLink(link, to: target)
    }

    /// Removes the scenario's link of line `id`, if it has one (its reader was unplugged).
    func unlinkLine(_ id: String) {
        guard let link = scenario.lines.first(where: { $0.id == id })?.link else { return }
        unlink(link)
    }

    /// Set by the `quit` control command.
    public var quitRequested: Bool { quit.withLock { $0 } }
    func requestQuit() { quit.withLock { $0 = true } }

    /// The device at `unit` on the line or TCP port called `endpoint` (a line id, a TCP id,
    /// `tcp-<port>`, or just the port number).
    public func device(endpoint: String, unit: UInt8) -> SimulatedDevice? { device(endpoint: endpoint, key: String(unit)) }

    /// Like `device(endpoint:unit:)`, but `key` may also be a meter address on a DL/T 645 or CJ/T 188 line.
    public func device(endpoint: String, key: String) -> SimulatedDevice? {
        servers.first { $0.isNamed(endpoint) }?.device(key: key)
    }

    static func makeLink(_ link: String, to target: String) throws(SimulatorError) {
        let directory = ScenarioLoader.directory(of: link)
        if directory != "." { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        // A link left by a killed run would make symlink() fail; only ever replace a symlink.
        var info = stat()
        if lstat(link, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFLNK else { throw SimulatorError("\(link) exists and is not a symlink") }
            unlink(link)
        }
        guard symlink(target, link) == 0 else {
            throw SimulatorError("cannot create symlink \(link): \(String(cString: strerror(errno)))")
        }
    }
}
