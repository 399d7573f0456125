import ArgumentParser
import MeterAgent
import MeterCore

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a device of a site once, now.",
        discussion: "Prints a table of point, value, unit and quality, or JSON lines with --json."
    )

    @OptionGroup var site: SiteArguments

    @Argument(help: "Device id from the site configuration.")
    var device: String

    @Argument(help: "Points to read (default: all points of the device's profile).")
    var points: [String] = []

    @Flag(help: "Print JSON lines instead of a table.")
    var json = false

    func run() async throws {
        let site = try self.site.load()
        let deviceConfig = try siteDevice(device, in: site, config: self.site.config)
        for point in points where !deviceConfig.profile.pointNames.contains(PointName(point)) {
            let known = deviceConfig.profile.pointNames.map(\.rawValue).joined(separator: ", ")
            throw fail("profile \(deviceConfig.profile.name) has no point '\(point)' (points: \(known))", Exit.invalidConfig)
        }
        let single = SiteConfig(gatewayID: site.gatewayID, buses: site.buses.filter { $0.id == deviceConfig.bus },
                                devices: [deviceConfig], source: site.source)
        let scheduler: PollScheduler
        do {
            scheduler = try PollScheduler(site: single)
        } catch {
            throw fail(error.description, Exit.invalidConfig)
        }
        defer { scheduler.close() }
        let readings = await scheduler.readOnce(deviceConfig.id, points: points.isEmpty ? nil : points.map { PointName($0) }) ?? []
        printReadings(readings, json: json)
        if readings.contains(where: { $0.quality == .busError }), let why = scheduler.busError(of: deviceConfig.id) {
            throw fail("\(device) on bus \(deviceConfig.bus): \(why)", Exit.deviceFailed)
        }
        if readings.contains(where: { $0.quality != .good }) { throw Exit.deviceFailed }
    }
}

func printReadings(_ readings: [Reading], json: Bool) {
    if json {
        for reading in readings { print(reading.json) }
        return
    }
    var rows = [["POINT", "VALUE", "UNIT", "QUALITY"]]
    for r in readings {
        rows.append([r.point.rawValue, r.value?.description ?? "-", r.unit, r.quality.description + (r.billing ? "" : "")])
    }
    print(TextFormat.table(rows), terminator: "")
}
