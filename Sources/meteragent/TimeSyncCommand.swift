import CommandLineKit
import MeterAgent
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols

/// `meteragent timesync CONFIG BUS`: broadcasts the gateway's local time to every DL/T 645
/// meter on a line (0x08 to 99…99, which no meter answers), then reads each configured meter's
/// clock back and prints how far off it is.
struct TimeSync: Command {
    static let spec = CommandSpec(
        "timesync",
        abstract: "Broadcast the time to the DL/T 645 meters of a line and read their clocks back.",
        discussion: """
        Meters take a broadcast only when it moves their clock by less than 5 minutes (and, on \
        many, once a day): a meter further off needs a password-protected write. Exit 0 when every \
        configured meter on the line reads back within 5 s; 1 otherwise.
        """,
        parameters: SiteArguments.parameters + [.argument("bus", help: "Bus id of a DL/T 645 line from the site configuration.")]
    )

    let site: SiteArguments
    let bus: String

    init(_ values: ParsedValues) throws(ValidationError) {
        site = try SiteArguments(values)
        bus = try values.value("bus")
    }

    func run() async throws {
        let site = try self.site.load()
        guard let busConfig = site.bus(BusID(bus)) else {
            let known = site.buses.map(\.id.rawValue).joined(separator: ", ")
            throw fail("no bus '\(bus)' in \(self.site.config) (buses: \(known))", Exit.invalidConfig)
        }
        guard busConfig.protocolName == .dlt645 else {
            throw fail("bus \(bus) speaks \(busConfig.protocolName.rawValue); broadcast time sync is for dlt645 lines", Exit.invalidConfig)
        }
        let line = SerialLineBus(config: busConfig)
        defer { line.close() }
        let time = MeterDateTime(secondsSince1970: LocalClock.localSeconds(utcMs: WallClock.nowMs()))
        do throws(SerialBusError) {
            try await DLT645MeterDriver.broadcastTime(time, on: line)
        } catch {
            throw fail(error.description, Exit.busUnavailable)
        }
        print("broadcast \(time) on \(bus)")
        var allGood = true
        var rows = [["DEVICE", "ADDRESS", "CLOCK", "OFFSET"]]
        for device in site.devices(on: busConfig.id) {
            guard let driver = try? DLT645MeterDriver(device: device, bus: line) else { continue }
            do throws(SerialBusError) {
                let clock = try await driver.readClock()
                let offset = clock.secondsSince1970 - LocalClock.localSeconds(utcMs: WallClock.nowMs())
                if abs(offset) > 5 { allGood = false }
                rows.append([device.id.rawValue, driver.address.written, clock.description, "\(offset) s"])
            } catch {
                allGood = false
                rows.append([device.id.rawValue, driver.address.written, "-", error.quality.description])
            }
        }
        print(TextFormat.table(rows), terminator: "")
        if !allGood { throw Exit.deviceFailed }
    }
}
