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
    public let lines: [RTULineServer]
    public let tcpServers: [TCPDeviceServer]
    /// Lines of CJ/T 188 water and gas meters (`protocol: cjt188`).
    public let cjt188Lines: [CJT188LineServer]
    /// Lines of DL/T 645 electricity meters (`protocol: dlt645` or `dlt645_1997`).
    public let dlt645Lines: [DLT645LineServer]
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
        let globalSeed = scenario.seed ?? seed
        func build(_ spec: ScenarioDevice, endpoint: String) throws(SimulatorError) -> SimulatedDevice {
            guard let profile = scenario.profiles[spec.profileName] else {
                throw SimulatorError("\(spec.location): profile '\(spec.profileName)' not loaded")
            }
            let seed = spec.seed ?? SeededNoise.mix(globalSeed ^ SeededNoise.stableHash(endpoint) ^ UInt64(spec.unit.rawValue))
            let device = SimulatedDevice(unit: spec.unit, profile: profile, kind: spec.model, seed: seed,
                                         faults: spec.faults, clock: clock)
            for (name, value) in spec.pinned.sorted(by: { $0.key < $1.key }) { device.set(name, to: value) }
            return device
        }
        var lines: [RTULineServer] = []
        var links: [String] = []
        do throws(SimulatorError) {
            for spec in scenario.lines where spec.protocolName == .modbus {
                var devices: [SimulatedDevice] = []
                for d in spec.devices { devices.append(try build(d, endpoint: spec.id)) }
                let server: RTULineServer
                do {
                    server = try RTULineServer(id: spec.id, settings: spec.settings, devices: devices,
                                               seed: SeededNoise.mix(globalSeed ^ SeededNoise.stableHash(spec.id)))
                } catch { throw SimulatorError("line \(spec.id): \(error)") }
                lines.append(server)
            }
            var cjt188Lines: [CJT188LineServer] = []
            for spec in scenario.lines where spec.protocolName == .cjt188 {
                var meters: [CJT188SimulatedMeter] = []
                for d in spec.devices {
                    let device = try build(d, endpoint: spec.id)
                    guard let text = d.address, let address = CJT188Address(written: text) else {
                        throw SimulatorError("\(d.location): CJ/T 188 meter without a 14-digit address")
                    }
                    meters.append(CJT188SimulatedMeter(address: address, meterType: CJT188SimulatedMeter.meterType(for: device.profile),
                                                       device: device, diOrder: d.diOrder))
                }
                do {
                    cjt188Lines.append(try CJT188LineServer(id: spec.id, settings: spec.settings, meters: meters, clock: clock,
                                                            seed: SeededNoise.mix(globalSeed ^ SeededNoise.stableHash(spec.id))))
                } catch { throw SimulatorError("line \(spec.id): \(error)") }
            }
            var dlt645Lines: [DLT645LineServer] = []
            for spec in scenario.lines where spec.protocolName == .dlt645 || spec.protocolName == .dlt645_1997 {
                var meters: [DLT645SimulatedMeter] = []
                for d in spec.devices {
                    let device = try build(d, endpoint: spec.id)
                    guard let text = d.address, let address = try? DLT645Address(text) else {
                        throw SimulatorError("\(d.location): DL/T 645 meter without a 12-digit address")
                    }
                    meters.append(DLT645SimulatedMeter(address: address, device: device, password: d.password ?? "000000"))
                }
                do {
                    dlt645Lines.append(try DLT645LineServer(id: spec.id, settings: spec.settings, meters: meters, clock: clock,
                                                            seed: SeededNoise.mix(globalSeed ^ SeededNoise.stableHash(spec.id))))
                } catch { throw SimulatorError("line \(spec.id): \(error)") }
            }
            var servers: [TCPDeviceServer] = []
            for (index, spec) in scenario.tcp.enumerated() {
                var devices: [SimulatedDevice] = []
                let endpoint = spec.id ?? "tcp-\(spec.port == 0 ? index : spec.port)"
                for d in spec.devices { devices.append(try build(d, endpoint: endpoint)) }
                do {
                    servers.append(try TCPDeviceServer(id: spec.id, port: spec.port, devices: devices,
                                                       seed: SeededNoise.mix(globalSeed ^ SeededNoise.stableHash(endpoint))))
                } catch { throw SimulatorError("tcp port \(spec.port): \(error)") }
            }
            let controlChannel = try (controlPath ?? scenario.control).map { (path) throws(SimulatorError) in try ControlChannel(path: path) }
            // Links last: a run that fails (a port in use, say) must not replace the links of
            // another instance that is still serving.
            for (spec, server) in zip(scenario.lines.filter { $0.protocolName == .modbus }, lines) {
                guard let link = spec.link else { continue }
                try Self.makeLink(link, to: server.slavePath)
                links.append(link)
            }
            for (spec, server) in zip(scenario.lines.filter { $0.protocolName == .cjt188 }, cjt188Lines) {
                guard let link = spec.link else { continue }
                try Self.makeLink(link, to: server.slavePath)
                links.append(link)
            }
            for (spec, server) in zip(scenario.lines.filter { $0.protocolName == .dlt645 || $0.protocolName == .dlt645_1997 }, dlt645Lines) {
                guard let link = spec.link else { continue }
                try Self.makeLink(link, to: server.slavePath)
                links.append(link)
            }
            self.dlt645Lines = dlt645Lines
            self.cjt188Lines = cjt188Lines
            self.lines = lines
            self.tcpServers = servers
            self.createdLinks = links
            self.control = controlChannel
        } catch {
            for link in links { unlink(link) }
            throw error
        }
    }

    /// What `metersim` prints before `ready`: `line <id> <slave path>` and `tcp <port> units 1,2`.
    public var announcements: [String] {
        lines.map { "line \($0.id) \($0.slavePath)" }
            + cjt188Lines.map { "line \($0.id) \($0.slavePath)" }
            + dlt645Lines.map { "line \($0.id) \($0.slavePath)" }
            + tcpServers.map { "tcp \($0.port) units " + $0.devices.map { String($0.unit.rawValue) }.joined(separator: ",") }
    }

    /// Starts serving.
    public func start() throws(SimulatorError) {
        do {
            for line in lines { try line.start() }
            for server in tcpServers { try server.start() }
            for line in cjt188Lines { try line.start() }
            for line in dlt645Lines { try line.start() }
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
        for line in lines { line.stop() }
        for server in tcpServers { server.stop() }
        for line in cjt188Lines { line.stop() }
        for line in dlt645Lines { line.stop() }
        for link in createdLinks { unlink(link) }
    }

    /// Set by the `quit` control command.
    public var quitRequested: Bool { quit.withLock { $0 } }
    func requestQuit() { quit.withLock { $0 = true } }

    /// The device at `unit` on the line or TCP port called `endpoint` (a line id, a TCP id,
    /// `tcp-<port>`, or just the port number).
    public func device(endpoint: String, unit: UInt8) -> SimulatedDevice? {
        if let line = lines.first(where: { $0.id == endpoint }) { return line.device(unit: unit) }
        if let line = cjt188Lines.first(where: { $0.id == endpoint }) { return line.meter(String(unit))?.device }
        if let line = dlt645Lines.first(where: { $0.id == endpoint }) { return line.meter(String(unit))?.device }
        if let server = tcpServers.first(where: { $0.id == endpoint || String($0.port) == endpoint || "tcp-\($0.port)" == endpoint }) {
            return server.device(unit: unit)
        }
        return nil
    }

    /// Like `device(endpoint:unit:)`, but `key` may also be a meter address on a CJ/T 188 line.
    public func device(endpoint: String, key: String) -> SimulatedDevice? {
        if let line = cjt188Lines.first(where: { $0.id == endpoint }), let meter = line.meter(key) { return meter.device }
        if let line = dlt645Lines.first(where: { $0.id == endpoint }), let meter = line.meter(key) { return meter.device }
        return UInt8(key).flatMap { device(endpoint: endpoint, unit: $0) }
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
