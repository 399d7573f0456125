import ArgumentParser
import MeterAgent
import MeterCore

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the requests of one poll cycle per bus, with bytes and bus time against one request per point."
    )

    @OptionGroup var site: SiteArguments

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
