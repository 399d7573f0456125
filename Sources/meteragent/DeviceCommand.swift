import CommandLineKit
import MeterAgent
import MeterCore
import MeterDrivers

/// A device of the site by its id; exits on an unknown id, listing the known ones.
func siteDevice(_ device: String, in site: SiteConfig, config: String) throws -> DeviceConfig {
    guard let deviceConfig = site.device(DeviceID(device)) else {
        let known = site.devices.map(\.id.rawValue).joined(separator: ", ")
        throw fail("no device '\(device)' in \(config) (devices: \(known))", Exit.invalidConfig)
    }
    return deviceConfig
}

/// What every command that acts on one configured device takes: the site config, the device, the
/// profiles, and whether to answer in JSON.
struct DeviceCommandTarget {
    static let parameters: [Parameter] = SiteArguments.parameters + [
        .argument("device", help: "Device id from the site configuration."),
        .flag("json", help: "Print one JSON object instead of text."),
    ]

    let site: SiteArguments
    let device: String
    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        site = try SiteArguments(values)
        device = try values.value("device")
        json = values.flag("json")
    }

    func execute(_ command: MeterCommand) async throws {
        try await executeCommand(command, device: device, site: try site.load(), config: site.config, json: json)
    }
}

/// Runs `command` on one device through the driver the daemon would use and prints the outcome
/// (text and the state read back, or one JSON object). Exits 1 unless the read-back confirms.
func executeCommand(_ command: MeterCommand, device: String, site: SiteConfig, config: String, json: Bool) async throws {
    let (bus, driver) = try openDriver(site: site, device: device, config: config)
    defer { bus.close() }
    let outcome = await driver.execute(command, now: WallClock.nowMs)
    if outcome.status == .unsupported {
        throw fail("device \(device): \(outcome.message)", Exit.invalidConfig)
    }
    if json {
        print(commandOutcomeJSON(outcome))
    } else {
        print(outcome.description)
        if !outcome.observed.isEmpty { printReadings(outcome.observed, json: false) }
    }
    if outcome.status != .confirmed { throw Exit.deviceFailed }
}

/// The bus and driver of one device, as the daemon would build them; exits on a bad config.
func openDriver(site: SiteConfig, device: String, config: String) throws -> (any MeterBus, any MeterDriver) {
    let deviceConfig = try siteDevice(device, in: site, config: config)
    guard let busConfig = site.bus(deviceConfig.bus) else {
        throw fail("device \(device): unknown bus \(deviceConfig.bus)", Exit.invalidConfig)
    }
    do throws(DriverFactory.Unsupported) {
        let bus = try DriverFactory.openBus(busConfig)
        do throws(DriverFactory.Unsupported) {
            return (bus, try DriverFactory.driver(for: deviceConfig, on: bus))
        } catch {
            bus.close()
            throw error
        }
    } catch {
        throw fail(error.description, Exit.invalidConfig)
    }
}

/// One JSON object for a command outcome (never the password: outcomes do not carry it).
func commandOutcomeJSON(_ outcome: CommandOutcome) -> String {
    var w = JSONWriter()
    w.raw("{\"device\":"); w.string(outcome.device.rawValue)
    w.raw(",\"command\":"); w.string(outcome.command.action)
    w.raw(",\"status\":"); w.string("\(outcome.status)")
    w.raw(",\"message\":"); w.string(outcome.message)
    w.raw(",\"quality\":"); w.string(outcome.quality.description)
    w.raw(",\"observed\":[" + outcome.observed.map(\.json).joined(separator: ",") + "]}")
    return w.text
}
