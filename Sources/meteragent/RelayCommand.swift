import ArgumentParser
import MeterAgent
import MeterCore
import MeterDrivers

/// `meteragent relay CONFIG DEVICE ACTION`: relay control of a DL/T 645 meter through the same
/// driver the daemon uses (`MeterDriver.execute`), with the password level from the profile and
/// the password and operator code from the site config; then reads status word 3 back.
struct Relay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Switch the relay (or alarm, keep-power) of an electricity meter, then read its state back.",
        discussion: """
        Actions: open (trip, disconnect), close (direct close), arm (close allowed: the customer \
        recloses), alarm, alarm-off, keep-power (保电), release. Prints the outcome (confirmed, \
        accepted, rejected, failed, unsupported) and the relay state read back, or one JSON object \
        with --json. Exit 0 only when the read-back confirms; 1 when the meter refused (e.g. \
        unauthorised: wrong password or level), did not answer, or reads back another state.
        """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case open, close, arm, alarm
        case alarmOff = "alarm-off"
        case keepPower = "keep-power"
        case release

        var command: MeterCommand {
            switch self {
            case .open: .relayOpen
            case .close: .relayClose
            case .arm: .relayArm
            case .alarm: .alarmOn
            case .alarmOff: .alarmOff
            case .keepPower: .keepPower
            case .release: .releaseKeepPower
            }
        }
    }

    @Argument(help: "Site configuration file (YAML).")
    var config: String

    @Argument(help: "Device id from the site configuration.")
    var device: String

    @Argument(help: "open, close, arm, alarm, alarm-off, keep-power or release.")
    var action: Action

    @OptionGroup var profileOptions: ProfileOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        let site = try loadSite(config, profiles: profileOptions.profiles)
        let (bus, driver) = try openDriver(site: site, device: device, config: config)
        defer { bus.close() }
        let outcome = await driver.execute(action.command, now: WallClock.nowMs)
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
}

/// The bus and driver of one device, as the daemon would build them; exits on a bad config.
func openDriver(site: SiteConfig, device: String, config: String) throws -> (any MeterBus, any MeterDriver) {
    guard let deviceConfig = site.device(DeviceID(device)) else {
        let known = site.devices.map(\.id.rawValue).joined(separator: ", ")
        throw fail("no device '\(device)' in \(config) (devices: \(known))", Exit.invalidConfig)
    }
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
