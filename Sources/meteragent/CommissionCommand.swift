import CommandLineKit
import MeterAgent
import MeterCore

struct Commission: Command {
    static let spec = CommandSpec(
        "commission",
        abstract: "Give a new meter its address and the line's settings, read it back there, and print its site-config entry.",
        discussion: """
        Examples:
          meteragent commission --port /dev/ttyUSB0 --profile eastron-sdm630 --unit 1 --baud 9600 \\
                                --new-unit 7 --new-baud 19200
          meteragent commission --port /dev/ttyUSB0 --profile dlt645-2007-generic --baud 2400 \\
                                --new-address 202611250307 --new-baud 9600

        The current settings (--unit, --baud, --parity, --address) default to the factory's: unit 1 \
        and the profile's line settings; a DL/T 645 meter without --address is asked for it. Only \
        the settings the profile declares writable (its `settings:` section) can be changed. \
        Factory-fresh meters all answer at the same settings, so connect and commission them one \
        at a time: when more than one meter answers at the current settings (their replies \
        collide), nothing is written. A model that takes new settings only after a restart is \
        waited for (--restart-wait) while the technician switches it off and on. The meter is then \
        read at its new settings and its `buses:`/`devices:` entry printed for the site config.
        Exit codes: 0 commissioned; 1 no meter, more than one meter, a write refused, or the \
        read-back differs; 2 the profile cannot be loaded or declares the setting not writable; \
        3 the port cannot be opened.
        """,
        parameters: [
            .option("port", required: true, help: "Serial port (/dev/ttyUSB0 or usb:VID:PID[:SERIAL])."),
            .option("profile", required: true, help: "Profile name from the profiles directory, or a path to a profile file."),
            .option("baud", help: "Current baud rate (default: the profile's)."),
            .option("parity", help: "Current parity: none, even or odd (default: the profile's)."),
            .option("unit", help: "Modbus: current unit id (default 1, the factory's)."),
            .option("address", help: "DL/T 645: current address as on the nameplate (default: ask the only meter on the line)."),
            .option("new-unit", help: "Modbus: new unit id (1–247)."),
            .option("new-baud", help: "New baud rate."),
            .option("new-parity", help: "Modbus: new parity (none, even, odd)."),
            .option("ct-ratio", help: "Modbus: current transformer ratio to write."),
            .option("vt-ratio", help: "Modbus: voltage transformer ratio to write."),
            .option("new-address", help: "DL/T 645: new 12-digit address."),
            .option("bus-id", default: "rs485", help: "Bus id for the printed entry."),
            .option("device-id", help: "Device id for the printed entry (default: meter-UNIT or meter-ADDRESS)."),
            .option("restart-wait", default: "120", help: "Seconds to wait for a meter that takes its settings after a restart."),
            .option("timeout-ms", default: "1000", help: "Reply timeout in milliseconds."),
        ] + ProfileOptions.parameters + PortGuard.parameters + [
            .flag("json", help: "Print the result as one JSON object instead of text."),
        ]
    )

    let port: String
    let profile: String
    let baud: Int?
    let parity: String?
    let unit: UInt8
    let address: String?
    let newUnit: UInt8?
    let newBaud: Int?
    let newParity: String?
    let ctRatio: String?
    let vtRatio: String?
    let newAddress: String?
    let busID: String
    let deviceID: String?
    let restartWait: Double
    let timeoutMs: Int
    let profileOptions: ProfileOptions
    let guardOptions: PortGuard
    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        port = try values.value("port")
        profile = try values.value("profile")
        baud = try values.optional("baud")
        parity = try values.optional("parity")
        unit = try values.optional("unit") ?? 1
        address = try values.optional("address")
        newUnit = try values.optional("new-unit")
        newBaud = try values.optional("new-baud")
        newParity = try values.optional("new-parity")
        ctRatio = try values.optional("ct-ratio")
        vtRatio = try values.optional("vt-ratio")
        newAddress = try values.optional("new-address")
        busID = try values.value("bus-id")
        deviceID = try values.optional("device-id")
        restartWait = try values.value("restart-wait")
        timeoutMs = try values.value("timeout-ms")
        profileOptions = try ProfileOptions(values)
        guardOptions = try PortGuard(values)
        json = values.flag("json")
    }

    func validate() throws {
        if let newUnit, !(1...247).contains(newUnit) { throw ValidationError("--new-unit must be 1–247, got \(newUnit)") }
        guard (1...247).contains(unit) else { throw ValidationError("--unit must be 1–247, got \(unit)") }
        for (name, value) in [("--parity", parity), ("--new-parity", newParity)] {
            if let value, Parity(rawValue: value.lowercased()) == nil {
                throw ValidationError("\(name) must be none, even or odd, got '\(value)'")
            }
        }
        guard restartWait > 0, timeoutMs > 0 else { throw ValidationError("--restart-wait and --timeout-ms must be positive") }
        if port.hasPrefix("tcp://") { throw ValidationError("commission works on serial lines; a Modbus TCP meter is set up from its own menu") }
    }

    /// A step as it happens, at once (a technician switching a meter off and on waits for it):
    /// on stdout, or on stderr when stdout carries the JSON result.
    func progress(_ line: String) async {
        await (json ? ConsoleOutput.stderr : ConsoleOutput.stdout).write(lines: [line])
    }

    func run() async throws {
        let deviceProfile = try loadProfile(profile, directory: profileOptions.profiles)
        try await guardOptions.refuseIfAgentUses(port)
        var line = deviceProfile.serialDefaults
        if let baud { line.baud = baud }
        if let parity, let p = Parity(rawValue: parity.lowercased()) { line.parity = p }
        var target = line
        if let newBaud { target.baud = newBaud }
        if let newParity, let p = Parity(rawValue: newParity.lowercased()) { target.parity = p }
        let outcome: CommissionOutcome
        switch deviceProfile.protocolName {
        case .modbus:
            guard address == nil, newAddress == nil else { throw ValidationError("--address and --new-address are for DL/T 645 meters") }
            outcome = try await ModbusCommissioning(command: self, profile: deviceProfile, line: line, target: target).run()
        case .dlt645:
            guard newUnit == nil, newParity == nil, ctRatio == nil, vtRatio == nil else {
                throw ValidationError("a DL/T 645 meter takes --new-address and --new-baud only")
            }
            outcome = try await DLT645Commissioning(command: self, profile: deviceProfile, line: line, target: target).run()
        case .dlt645_1997, .cjt188:
            throw fail("\(deviceProfile.protocolName.rawValue) meters cannot be commissioned here", Exit.invalidConfig)
        }
        outcome.print(json: json)
    }
}

/// What commissioning leaves behind: the meter's new place, what it read there, and its entry
/// for the site config.
struct CommissionOutcome {
    var port: String
    var busID: String
    var deviceID: String
    var line: SerialSettings
    var protocolName: WireProtocol
    /// `unit: 7` or `address: "202611250307"`.
    var deviceKey: (name: String, value: String)
    var profile: String
    /// What was written, as `name=value`, in order.
    var written: [String]
    var readings: [Reading]

    /// The `buses:` and `devices:` lines a site config needs for this meter.
    var siteEntry: String {
        let protocolKey = protocolName == .modbus ? "" : ", protocol: \(protocolName.rawValue)"
        let key = deviceKey.name == "address" ? "\"\(deviceKey.value)\"" : deviceKey.value
        return """
        buses:
          - {id: \(busID), type: serial, port: \(port), baud: \(line.baud), parity: \(line.parity.rawValue)\(protocolKey)}
        devices:
          - {id: \(deviceID), bus: \(busID), \(deviceKey.name): \(key), profile: \(profile)}

        """
    }

    func print(json: Bool) {
        if json {
            let q = JSONWriter.quoted
            let fields = [("port", q(port)), ("baud", String(line.baud)), ("parity", q(line.parity.rawValue)),
                          (deviceKey.name, deviceKey.name == "unit" ? deviceKey.value : q(deviceKey.value)), ("profile", q(profile)),
                          ("written", "[" + written.map(q).joined(separator: ",") + "]"), ("entry", q(siteEntry))]
            Swift.print("{" + fields.map { "\(q($0.0)):\($0.1)" }.joined(separator: ",") + "}")
            return
        }
        printReadings(readings, json: false)
        Swift.print("# \(written.joined(separator: ", ")); for the site config:")
        Swift.print(siteEntry, terminator: "")
    }
}
