import MeterCore
import MeterProtocols

/// A device in a scenario, before its profile is resolved.
public struct ScenarioDevice: Sendable, Hashable {
    public var unit: UnitID
    public var profileName: String
    public var model: DeviceModelKind?
    public var seed: UInt64?
    public var faults: DeviceFaults
    /// Values pinned from the start (`set: {power.active.total: 3500}`).
    public var pinned: [String: Double]
    public var location: SourceLocation
    /// The meter address as written, on DL/T 645 and CJ/T 188 lines (`unit` is then its place on the line).
    public var address: String?
    /// CJ/T 188: the only DI byte order the meter answers; nil answers both.
    public var diOrder: CJT188DIOrder?
    /// DL/T 645: the written password relay commands must carry (default 000000).
    public var password: String?
    /// DL/T 645: a security module, without which the meter takes no trip (`esam: {key: …}`).
    public var esam: ESAMSettings?
    /// The meter's own baud rate when it differs from its line's (`baud: 2400`).
    public var baud: Int?

    public init(unit: UnitID, profileName: String, model: DeviceModelKind? = nil, seed: UInt64? = nil,
                faults: DeviceFaults = DeviceFaults(), pinned: [String: Double] = [:],
                location: SourceLocation = SourceLocation(file: "", line: 0, column: 0)) {
        self.unit = unit
        self.profileName = profileName
        self.model = model
        self.seed = seed
        self.faults = faults
        self.pinned = pinned
        self.location = location
    }
}

/// A simulated serial line: one pty, several unit ids.
public struct ScenarioLine: Sendable, Hashable {
    public var id: String
    /// A symlink to the pty's slave path, relative to the working directory; removed on exit.
    public var link: String?
    public var settings: SerialSettings
    public var devices: [ScenarioDevice]
    /// What the line's meters speak (`protocol:`), Modbus RTU unless said otherwise.
    public var protocolName: LineProtocolName = .modbus

    public init(id: String, link: String? = nil, settings: SerialSettings = SerialSettings(), devices: [ScenarioDevice]) {
        self.id = id
        self.link = link
        self.settings = settings
        self.devices = devices
    }
}

/// A Modbus TCP port on 127.0.0.1 (port 0 picks a free one).
public struct ScenarioTCPPort: Sendable, Hashable {
    public var id: String?
    public var port: Int
    public var devices: [ScenarioDevice]

    public init(id: String? = nil, port: Int, devices: [ScenarioDevice]) {
        self.id = id
        self.port = port
        self.devices = devices
    }
}

/// What `metersim` serves: lines, TCP ports, an optional control socket, and the profiles used.
public struct Scenario: Sendable {
    public var file: String
    public var profilesDirectory: String
    public var lines: [ScenarioLine]
    public var tcp: [ScenarioTCPPort]
    public var control: String?
    public var seed: UInt64?
    /// The profiles the devices name, by name.
    public var profiles: [String: DeviceProfile]

    public init(file: String = "", profilesDirectory: String = "Hardware/profiles", lines: [ScenarioLine] = [],
                tcp: [ScenarioTCPPort] = [], control: String? = nil, seed: UInt64? = nil,
                profiles: [String: DeviceProfile] = [:]) {
        self.file = file
        self.profilesDirectory = profilesDirectory
        self.lines = lines
        self.tcp = tcp
        self.control = control
        self.seed = seed
        self.profiles = profiles
    }
}
