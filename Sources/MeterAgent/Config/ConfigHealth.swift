import MeterCore
import MeterIO

/// The health check of a newly applied config: every bus with devices has opened its port or
/// connection, and at least `apply.min_answering_percent` of the devices gave a good reading.
public struct ConfigHealth: Sendable, Equatable {
    public var busesOpen: Int
    public var buses: Int
    /// Buses that have not opened, with their last error.
    public var closedBuses: [String]
    public var answering: Int
    public var devices: Int
    public var needed: Int

    public init(site: SiteConfig, busStatistics: [BusID: BusStatistics], answered: Set<DeviceID>) {
        let closed = busStatistics.filter { $0.value.connects == 0 }.sorted { $0.key < $1.key }
        buses = busStatistics.count
        busesOpen = buses - closed.count
        closedBuses = closed.map { id, statistics in "\(id)" + (statistics.lastError.map { " (\($0))" } ?? "") }
        devices = site.devices.count
        answering = site.devices.filter { answered.contains($0.id) }.count
        needed = site.apply.devicesThatMustAnswer(of: devices)
    }

    public var passed: Bool { closedBuses.isEmpty && answering >= needed }

    /// `2 of 2 buses open, 3 of 4 devices answering (3 needed)`, or what failed first.
    public var summary: String {
        var parts: [String] = []
        if closedBuses.isEmpty {
            parts.append("\(busesOpen) of \(buses) buses open")
        } else {
            parts.append("bus not open: " + closedBuses.joined(separator: ", "))
        }
        parts.append("\(answering) of \(devices) devices answering (\(needed) needed)")
        return parts.joined(separator: ", ")
    }
}
