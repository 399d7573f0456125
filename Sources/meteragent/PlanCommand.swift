import CommandLineKit
import MeterAgent
import MeterCore

struct Plan: Command {
    static let spec = CommandSpec(
        "plan",
        abstract: "Show the requests of one poll cycle per bus, with bytes and bus time against one request per point.",
        parameters: SiteArguments.parameters
    )

    let site: SiteArguments

    init(_ values: ParsedValues) throws(ValidationError) {
        site = try SiteArguments(values)
    }

    func run() throws {
        let site = try self.site.load()
        for bus in site.buses {
            if bus.protocolName == .dlt645 || bus.protocolName == .dlt645_1997 {
                print(DLT645PlanReport(bus: bus, devices: site.devices(on: bus.id)).text)
                continue
            }
            do {
                print(try BusPlanReport(bus: bus, devices: site.devices(on: bus.id)).text)
            } catch {
                throw fail("bus \(bus.id): \(error)", Exit.invalidConfig)
            }
        }
    }
}
