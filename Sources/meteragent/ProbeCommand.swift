#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import MeterAgent
import MeterCore

struct Probe: Command {
    static let spec = CommandSpec(
        "probe",
        abstract: "Read a meter or a card reader without a site config, to check wiring and settings on site.",
        discussion: """
        Examples:
          meteragent probe --port /dev/ttyUSB0 --baud 9600 --unit 1 --profile eastron-sdm120
          meteragent probe --port tcp://192.0.2.10:502 --unit 1 --profile eastron-sdm630
          meteragent probe --port /dev/ttyUSB0 --profile dlt645-2007-generic            (finds the address)
          meteragent probe --port /dev/ttyUSB0 --address 202611250301 --profile dlt645-2007-generic
          meteragent probe --port /dev/ttyUSB1 --profile cjt188-water-cold                  (finds the address)
          meteragent probe --port /dev/ttyS2 --reader rdm6300 --wait 20     (prints the first card)

        With --reader, the reader is opened, identified (an RDM6300 cannot be asked anything: \
        it is recognised by its first valid frame), and the first card presented within --wait \
        seconds is printed as `card em4100:0F00271DA5`. Exit codes: 0 a card was read, 1 no card \
        in time, 3 the port could not be opened or the reader went away.
        """,
        parameters: [
            .option("port", required: true, help: "Serial port (/dev/ttyUSB0, usb:VID:PID[:SERIAL]) or tcp://HOST:PORT."),
            .option("baud", help: "Baud rate (default: the profile's)."),
            .option("parity", help: "Parity: none, even or odd (default: the profile's)."),
            .option("stop-bits", help: "Stop bits (default: the profile's)."),
            .option("unit", help: "Modbus unit id (slave address); required for Modbus profiles."),
            .option("address", help: "DL/T 645 (12 digits) or CJ/T 188 (14 digits) meter address as on the nameplate; without it the only meter on the line is asked for its address."),
            .option("profile", help: "Profile name from the profiles directory, or a path to a profile file (meters)."),
            .option("reader", help: "Card reader type instead of a meter profile: rdm6300 or pn532."),
            .option("wait", default: "30", help: "With --reader: seconds to wait for a card."),
            .option("timeout-ms", default: "1000", help: "Reply timeout in milliseconds."),
            .flag("rs485", help: "Set the port to RS-485 mode (where the driver supports it)."),
        ] + ProfileOptions.parameters + [
            .flag("json", help: "Print JSON lines instead of a table."),
        ]
    )

    let port: String
    let baud: Int?
    let parity: String?
    let stopBits: Int?
    let unit: UInt8?
    let address: String?
    let profile: String?
    let reader: String?
    let wait: Double
    let timeoutMs: Int
    let rs485: Bool
    let profileOptions: ProfileOptions
    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        port = try values.value("port")
        baud = try values.optional("baud")
        parity = try values.optional("parity")
        stopBits = try values.optional("stop-bits")
        unit = try values.optional("unit")
        address = try values.optional("address")
        profile = try values.optional("profile")
        reader = try values.optional("reader")
        wait = try values.value("wait")
        timeoutMs = try values.value("timeout-ms")
        rs485 = values.flag("rs485")
        profileOptions = try ProfileOptions(values)
        json = values.flag("json")
    }

    func validate() throws {
        guard (profile == nil) != (reader == nil) else {
            throw ValidationError("give either --profile (a meter) or --reader (a card reader)")
        }
        if let reader, CardReaderType(rawValue: reader.lowercased()) == nil {
            throw ValidationError("--reader must be one of \(CardReaderType.allCases.map(\.rawValue).joined(separator: ", ")), got '\(reader)'")
        }
        guard wait > 0 else { throw ValidationError("--wait must be a positive number of seconds") }
    }

    func run() async throws {
        if let reader, let type = CardReaderType(rawValue: reader.lowercased()) {
            let config = CardReaderConfig(id: ReaderID("probe"), type: type, port: port, baud: baud)
            return try await probeReader(config, waitSeconds: wait, json: json)
        }
        guard let profile else { throw ValidationError("--profile is required") }
        let deviceProfile = try loadProfile(profile, directory: profileOptions.profiles)
        let transport: BusTransport
        if port.hasPrefix("tcp://") {
            let rest = port.dropFirst("tcp://".count)
            let parts = rest.split(separator: ":")
            guard parts.count == 2, let tcpPort = Int(parts[1]), (1...65535).contains(tcpPort) else {
                throw ValidationError("--port tcp://HOST:PORT expected, got '\(port)'")
            }
            transport = .tcp(host: String(parts[0]), port: tcpPort)
        } else {
            var settings = deviceProfile.serialDefaults
            if let baud { settings.baud = baud }
            if let stopBits { settings.stopBits = stopBits }
            if let parity {
                guard let p = Parity(rawValue: parity.lowercased()) else {
                    throw ValidationError("--parity must be none, even or odd, got '\(parity)'")
                }
                settings.parity = p
            }
            transport = .serial(port: port, settings: settings, rs485: rs485)
        }
        let bus = BusConfig(id: BusID("probe"), transport: transport, protocolName: deviceProfile.protocolName, timeoutMs: timeoutMs, retries: 0)
        let device: DeviceConfig
        let target: String
        if deviceProfile.protocolName.usesMeterAddress {
            let found: String
            if let address { found = address } else { found = try await probeAddress(bus, profile: deviceProfile) }
            device = DeviceConfig(id: DeviceID("probe"), bus: bus.id, address: found, profile: deviceProfile)
            target = "meter \(found)"
        } else {
            guard let unit else { throw ValidationError("--unit is required for \(deviceProfile.protocolName.rawValue) profile '\(profile)'") }
            device = DeviceConfig(id: DeviceID("probe"), bus: bus.id, unit: UnitID(unit), profile: deviceProfile)
            target = "unit \(unit)"
        }
        let scheduler: PollScheduler
        do {
            scheduler = try PollScheduler(site: SiteConfig(gatewayID: "probe", buses: [bus], devices: [device]))
        } catch {
            throw fail(error.description, Exit.invalidConfig)
        }
        defer { scheduler.close() }
        let readings = await scheduler.readOnce(device.id) ?? []
        printReadings(readings, json: json)
        if let bad = readings.first(where: { $0.quality != .good }) {
            guard bad.quality == .busError else { throw fail("\(target) on \(port): \(bad.quality)", Exit.deviceFailed) }
            let why = scheduler.busError(of: device.id).map { " (\($0))" } ?? ""
            throw fail("\(target) on \(port): \(bad.quality)\(why)", Exit.busUnavailable)
        }
    }
}

/// A profile by name from the profiles directory, or by path.
func loadProfile(_ nameOrPath: String, directory: String?) throws -> DeviceProfile {
    let path: String
    if nameOrPath.hasSuffix(".yaml") || nameOrPath.contains("/") {
        path = nameOrPath
    } else {
        guard let dir = directory ?? ProfileSearch.defaultDirectory() else {
            throw fail("no profiles directory found; pass --profiles DIR", Exit.invalidConfig)
        }
        path = dir + "/" + nameOrPath + ".yaml"
        guard access(path, R_OK) == 0 else {
            throw fail("no profile '\(nameOrPath)' in \(dir)", Exit.invalidConfig)
        }
    }
    do {
        return try ProfileLoader.load(path: path)
    } catch {
        throw fail(error.description, Exit.invalidConfig)
    }
}

/// Where device profiles live when no directory is given: the source tree, next to the
/// installed binary, or the system share directory.
enum ProfileSearch {
    static func defaultDirectory() -> String? {
        var candidates = ["Hardware/profiles"]
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let slash = exe.lastIndex(of: "/") {
                candidates.append(String(exe[..<slash]) + "/../share/meteragent/profiles")
            }
        }
        candidates.append("/usr/share/meteragent/profiles")
        return candidates.first { access($0, R_OK | X_OK) == 0 }
    }
}
