import MeterCore
import MeterIO

/// One endpoint of a scenario that serves simulated devices: a serial line on a pty (Modbus RTU,
/// DL/T 645, CJ/T 188) or a Modbus TCP port. The simulator, `metersim`'s announcements and the
/// control channel see nothing else of it.
public protocol LineServer: AnyObject, Sendable {
    /// What the control channel and `list` call it: the scenario line's id, or a TCP entry's id
    /// (`tcp-<port>` when the scenario gives none).
    var id: String { get }
    /// What a scenario's `link:` points at: the slave end of a serial line's pty; nil for a TCP port.
    var linkTarget: String? { get }
    /// What `metersim` prints for it before `ready`: `line <id> <pty>` or `tcp <port> units 1,2`.
    var announcement: String { get }
    /// The devices it serves, in scenario order.
    var devices: [SimulatedDevice] { get }
    /// One `list` line per device: `ID UNIT PROFILE MODEL [address=…] [baud=…] faults=… […]`.
    var listing: [String] { get }
    /// The device a control command names by `key`: its unit, or its meter address on lines of
    /// addressed meters.
    func device(key: String) -> SimulatedDevice?
    /// True if a control command's LINE word names this server.
    func isNamed(_ endpoint: String) -> Bool
    func start() throws(SimulatorError)
    /// Stops serving and waits for the serving thread; safe to call twice.
    func stop()
}

extension LineServer {
    public var listing: [String] { devices.map { $0.listing(on: id) } }
    public func device(key: String) -> SimulatedDevice? { UInt8(key).flatMap(device(unit:)) }
    public func device(unit: UInt8) -> SimulatedDevice? { devices.first { $0.unit.rawValue == unit } }
    public func isNamed(_ endpoint: String) -> Bool { endpoint == id }
}

/// A line server on a pty: a `PacedLine` does the serial side, so only the devices, the start
/// and the answers are the server's own.
public protocol SerialLineServer: LineServer {
    var line: PacedLine { get }
}

extension SerialLineServer {
    public var id: String { line.id }
    public var settings: SerialSettings { line.settings }
    public var pty: PseudoTerminal { line.pty }
    public var slavePath: String { line.pty.slavePath }
    public var linkTarget: String? { slavePath }
    public var announcement: String { "line \(id) \(slavePath)" }
    public var statistics: LineStatistics { line.statistics }
    public func stop() { line.stop() }
}

extension SimulatedDevice {
    /// The device's `list` line: `ID UNIT PROFILE MODEL [address=…] [baud=…] faults=… [state]`
    /// (`baud=` only for a meter at a rate other than its line's).
    func listing(on id: String, address: String? = nil, state: String? = nil) -> String {
        ["\(id) \(unit) \(profile.name) \(kind.rawValue)", address.map { "address=\($0)" }, baud.map { "baud=\($0)" }, "faults=\(faults)", state]
            .compactMap { $0 }.joined(separator: " ")
    }
}

/// What a scenario line's `protocol:` says, e.g. `cjt188`; the `LineFamily` of that name serves it.
public struct LineProtocolName: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public static let modbus: Self = "modbus"
    public static let dlt645: Self = "dlt645"
    public static let dlt645_1997: Self = "dlt645_1997"
    public static let cjt188: Self = "cjt188"
    /// Card readers: a line of its own each, no devices (see `CardReaderServer`).
    public static let rdm6300: Self = "rdm6300"
    public static let pn532: Self = "pn532"

    /// Reader lines serve no devices: the line is the reader.
    public var isCardReader: Bool { self == .rdm6300 || self == .pn532 }
}

/// A kind of simulated line: its name in a scenario, how its devices are named there, and how its
/// line server is built from a scenario line.
struct LineFamily: Sendable {
    let name: LineProtocolName
    /// Digits of the meter address (`address:`) that names a device on such a line; nil where
    /// devices are named by `unit:`.
    let addressDigits: Int?
    let make: @Sendable (ScenarioLine, DeviceBuilder) throws(SimulatorError) -> any LineServer

    /// Every family a scenario can name, in the order error messages list them. A new family is
    /// its line server (with a `family`) and one line here.
    static let registered: [LineFamily] = [
        RTULineServer.family,
        DLT645LineServer.family(.dlt645),
        DLT645LineServer.family(.dlt645_1997),
        CJT188LineServer.family,
        RDM6300ReaderServer.family,
        PN532ReaderServer.family,
    ]

    static func named(_ name: LineProtocolName) -> LineFamily? { registered.first { $0.name == name } }
}

/// What a line family needs from the scenario to build its server: the devices (each with its
/// profile, seed, faults and pinned values), the clock, and seeds derived from the scenario's.
struct DeviceBuilder: Sendable {
    let profiles: [String: DeviceProfile]
    let clock: any SimulationClock
    let seed: UInt64

    /// The scenario device `spec` on the line or port called `endpoint`.
    func device(_ spec: ScenarioDevice, on endpoint: String) throws(SimulatorError) -> SimulatedDevice {
        guard let profile = profiles[spec.profileName] else {
            throw SimulatorError("\(spec.location): profile '\(spec.profileName)' not loaded")
        }
        let seed = spec.seed ?? SeededNoise.mix(self.seed ^ SeededNoise.stableHash(endpoint) ^ UInt64(spec.unit.rawValue))
        let device = SimulatedDevice(unit: spec.unit, profile: profile, kind: spec.model, seed: seed,
                                     faults: spec.faults, baud: spec.baud, clock: clock)
        for (name, value) in spec.pinned.sorted(by: { $0.key < $1.key }) { device.set(name, to: value) }
        return device
    }

    func devices(_ specs: [ScenarioDevice], on endpoint: String) throws(SimulatorError) -> [SimulatedDevice] {
        var devices: [SimulatedDevice] = []
        for spec in specs { devices.append(try device(spec, on: endpoint)) }
        return devices
    }

    /// The seed of the line or port itself (the noise of its replies).
    func seed(for endpoint: String) -> UInt64 { SeededNoise.mix(seed ^ SeededNoise.stableHash(endpoint)) }

    /// Opens line `id`'s pty (in `open`), naming the line if that fails.
    func line<Server>(_ id: String, _ open: () throws(PseudoTerminalError) -> Server) throws(SimulatorError) -> Server {
        do { return try open() } catch { throw SimulatorError("line \(id): \(error)") }
    }
}
