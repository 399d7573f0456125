import CommandLineKit
import MeterAgent
import MeterCore

struct Read: Command {
    static let spec = CommandSpec(
        "read",
        abstract: "Read a device of a site once, now; or wait for a card on one of its readers.",
        discussion: """
        Prints a table of point, value, unit and quality, or JSON lines with --json. For a reader \
        (an id under readers:), opens it as the agent would, waits up to --wait seconds for one \
        card and prints `card em4100:0F00271DA5` (exit 1 without a card, 3 if the port fails).
        """,
        parameters: SiteArguments.parameters + [
            .argument("device", help: "Device or reader id from the site configuration."),
            .variadicArgument("points", help: "Points to read (default: all points of the device's profile)."),
            .flag("json", help: "Print JSON lines instead of a table."),
            .option("wait", default: "30", help: "For a reader: seconds to wait for a card."),
        ]
    )

    let site: SiteArguments
    let device: String
    let points: [String]
    let json: Bool
    let wait: Double

    init(_ values: ParsedValues) throws(ValidationError) {
        site = try SiteArguments(values)
        device = try values.value("device")
        points = try values.list("points")
        json = values.flag("json")
        wait = try values.value("wait")
    }

    func run() async throws {
        let site = try self.site.load()
        if site.device(DeviceID(device)) == nil, let reader = site.reader(ReaderID(device)) {
            guard points.isEmpty else { throw fail("\(device) is a card reader: it has no points", Exit.invalidConfig) }
            guard wait > 0 else { throw ValidationError("--wait must be a positive number of seconds") }
            return try await probeReader(reader, waitSeconds: wait, json: json)
        }
        if site.device(DeviceID(device)) == nil, !site.readers.isEmpty {
            let devices = site.devices.map(\.id.rawValue).joined(separator: ", ")
            let readers = site.readers.map(\.id.rawValue).joined(separator: ", ")
            throw fail("no device or reader '\(device)' in \(self.site.config) (devices: \(devices); readers: \(readers))", Exit.invalidConfig)
        }
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
