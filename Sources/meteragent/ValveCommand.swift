import ArgumentParser
import MeterAgent
import MeterCore
import MeterDrivers

/// `meteragent valve CONFIG DEVICE open|close`: moves a water or gas meter's valve through the
/// same driver the daemon uses (`MeterDriver.execute`), then reads the valve state back.
struct Valve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open or close the valve of a water or gas meter, then read its state back.",
        discussion: """
        Prints the outcome (confirmed, accepted, rejected, failed, unsupported) and the state read \
        back, or one JSON object with --json. Exit 0 only when the read-back confirms the valve \
        position; 1 when the meter refused, did not answer, or reads back another position.
        """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case open, close

        var command: MeterCommand { self == .open ? .valveOpen : .valveClose }
    }

    @Argument(help: "Site configuration file (YAML).")
    var config: String

    @Argument(help: "Device id from the site configuration.")
    var device: String

    @Argument(help: "open or close.")
    var action: Action

    @OptionGroup var profileOptions: ProfileOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        let site = try loadSite(config, profiles: profileOptions.profiles)
        guard let deviceConfig = site.device(DeviceID(device)) else {
            let known = site.devices.map(\.id.rawValue).joined(separator: ", ")
            throw fail("no device '\(device)' in \(config) (devices: \(known))", Exit.invalidConfig)
        }
        guard let busConfig = site.bus(deviceConfig.bus) else {
            throw fail("device \(device): unknown bus \(deviceConfig.bus)", Exit.invalidConfig)
        }
        let bus: any MeterBus
        let driver: any MeterDriver
        do throws(DriverFactory.Unsupported) {
            bus = try DriverFactory.openBus(busConfig)
            driver = try DriverFactory.driver(for: deviceConfig, on: bus)
        } catch {
            throw fail(error.description, Exit.invalidConfig)
        }
        defer { bus.close() }
        let outcome = await driver.execute(action.command, now: WallClock.nowMs)
        if outcome.status == .unsupported {
            throw fail("device \(device): \(outcome.message)", Exit.invalidConfig)
        }
        if json {
            print(outcomeJSON(outcome))
        } else {
            print(outcome.description)
            if !outcome.observed.isEmpty { printReadings(outcome.observed, json: false) }
        }
        if outcome.status != .confirmed { throw Exit.deviceFailed }
    }

    private func outcomeJSON(_ outcome: CommandOutcome) -> String {
        var w = JSONWriter()
        w.raw("{\"device\":"); w.string(outcome.device.rawValue)
        w.raw(",\"command\":"); w.string(outcome.command.action)
        w.raw(",\"status\":"); w.string("\(outcome.status)")
        w.raw(",\"message\":"); w.string(outcome.message)
        w.raw(",\"quality\":"); w.string(outcome.quality.description)
        w.raw(",\"observed\":[" + outcome.observed.map(\.json).joined(separator: ",") + "]}")
        return w.text
    }
}
