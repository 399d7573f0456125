import MeterProtocols

public enum BusTransport: Sendable, Hashable {
    /// `port` is a device path (`/dev/ttyUSB0`, a pty path) or a USB identity `usb:VID:PID[:SERIAL]`.
    case serial(port: String, settings: SerialSettings, rs485: Bool)
    case tcp(host: String, port: Int)
}

public struct BusConfig: Sendable, Hashable {
    public var id: BusID
    public var transport: BusTransport
    public var protocolName: WireProtocol
    /// Time to wait for a reply before a transaction counts as timed out.
    public var timeoutMs: Int
    /// Extra attempts after a timeout or CRC error.
    public var retries: Int
    /// Pending transactions beyond this are refused, never queued without bound.
    public var queueDepth: Int
    /// First skip interval of a device that stopped answering; it doubles up to `backoffMaxMs`.
    public var backoffInitialMs: Int = 2_000
    public var backoffMaxMs: Int = 60_000
    /// First wait before reopening a port or connection that failed; doubles up to 10 s.
    public var reconnectInitialMs: Int = 500

    public init(id: BusID, transport: BusTransport, protocolName: WireProtocol = .modbus,
                timeoutMs: Int = 500, retries: Int = 1, queueDepth: Int = 64) {
        self.id = id
        self.transport = transport
        self.protocolName = protocolName
        self.timeoutMs = timeoutMs
        self.retries = retries
        self.queueDepth = queueDepth
    }
}

public struct DeviceConfig: Sendable, Hashable {
    public var id: DeviceID
    public var bus: BusID
    public var unit: UnitID
    public var profile: DeviceProfile
    public var pollIntervalMs: Int
    public var tags: [String: String]
    /// The meter address of DL/T 645 / CJ/T 188 devices, digits as written on the nameplate
    /// (12 for DL/T 645, 14 for CJ/T 188); nil for Modbus devices, which use `unit`.
    public var address: String?
    /// Password and operator code for write/relay commands (DL/T 645); never logged.
    public var credentials: MeterCredentials?
    /// Never disconnected remotely (life-support customers): the head-end's relay.open,
    /// valve.close and load.limit are refused, and local cost control raises an alarm instead.
    public var protected = false
    /// Threshold alarms on this device's points (`alarms:`), evaluated on every poll.
    public var alarms: [AlarmRule] = []
    /// Who keeps the balance of a prepaid device (`cost_control:`); nil for a device without one.
    public var costControl: CostControl?

    public init(id: DeviceID, bus: BusID, unit: UnitID, profile: DeviceProfile, pollIntervalMs: Int = 10_000,
                tags: [String: String] = [:]) {
        self.id = id
        self.bus = bus
        self.unit = unit
        self.profile = profile
        self.pollIntervalMs = pollIntervalMs
        self.tags = tags
    }

    /// A device on a DL/T 645 or CJ/T 188 line, named by its meter address.
    public init(id: DeviceID, bus: BusID, address: String, profile: DeviceProfile, credentials: MeterCredentials? = nil,
                pollIntervalMs: Int = 10_000, tags: [String: String] = [:]) {
        self.init(id: id, bus: bus, unit: UnitID(0), profile: profile, pollIntervalMs: pollIntervalMs, tags: tags)
        self.address = address
        self.credentials = credentials
    }
}

/// One gateway's site: its buses and the devices on them.
public struct SiteConfig: Sendable, Hashable {
    public var gatewayID: String
    public var buses: [BusConfig]
    public var devices: [DeviceConfig]
    /// Where the config was loaded from.
    public var source: String
    /// The head-end's broker; nil when the agent runs without an uplink.
    public var mqtt: MQTTConfig?
    /// The durable outbox; every site has one (default `/var/lib/meteragent/outbox.db`).
    public var store = StoreConfig()
    /// The head-end's signing keys; without any, every command is refused (`unknown_key`).
    public var commands = CommandSettings()
    /// Card readers (`readers:`), each on a port of its own.
    public var readers: [CardReaderConfig] = []
    /// How card presentations are reported and decided (`cards:`); ids masked when the section is absent.
    public var cards = CardSettings(idPrivacy: .mask)
    /// How a running agent takes a new config into use (`apply:`).
    public var apply = ConfigApplySettings()

    public init(gatewayID: String, buses: [BusConfig], devices: [DeviceConfig], source: String = "") {
        self.gatewayID = gatewayID
        self.buses = buses
        self.devices = devices
        self.source = source
    }

    public func bus(_ id: BusID) -> BusConfig? { buses.first { $0.id == id } }
    public func device(_ id: DeviceID) -> DeviceConfig? { devices.first { $0.id == id } }
    public func devices(on bus: BusID) -> [DeviceConfig] { devices.filter { $0.bus == bus } }
    public func reader(_ id: ReaderID) -> CardReaderConfig? { readers.first { $0.id == id } }
}
