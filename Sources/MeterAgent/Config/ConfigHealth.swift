import MeterCore
import MeterIO
import Synchronization

/// Which devices of a freshly applied config have answered: the poller's readings pass through
/// on their way to the store. After the health check has decided, `stopWatching()` leaves a
/// single atomic load on the poll path.
public final class AnsweringDevices: Sendable {
    private let answered = Mutex<Set<DeviceID>>([])
    private let watching = Atomic(true)

    public init() {}

    func note(_ readings: [Reading]) {
        guard watching.load(ordering: .relaxed), let first = readings.first,
              readings.contains(where: { $0.quality == .good }) else { return }
        answered.withLock { _ = $0.insert(first.device) }
    }

    public var devices: Set<DeviceID> { answered.withLock { $0 } }

    public func stopWatching() { watching.store(false, ordering: .relaxed) }
}

/// Passes readings and events on to `inner`, noting which devices answered.
public struct AnsweringDevicesSink<Inner: ReadingSink>: ReadingSink {
    let inner: Inner
    let answering: AnsweringDevices

    public init(inner: Inner, answering: AnsweringDevices) {
        self.inner = inner
        self.answering = answering
    }

    public func deliver(_ readings: [Reading]) async {
        answering.note(readings)
        await inner.deliver(readings)
    }

    public func deliver(events: [MeterEvent]) async { await inner.deliver(events: events) }
}

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
