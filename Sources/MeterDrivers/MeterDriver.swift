import MeterCore
import MeterIO
import MeterProtocols

/// A meter behind some protocol: the poller and the technician commands see only this.
/// `read` never throws: a failure becomes readings with a quality that says why.
public protocol MeterDriver: Sendable {
    var device: DeviceConfig { get }
    /// One reading per requested point (all of the profile's when nil), in profile order.
    func read(points: [PointName]?, now: () -> Int64) async -> [Reading]
    /// Names among `points` that this device's profile does not define.
    func unknownPoints(_ points: [PointName]) -> [PointName]
    /// Carries out a state-changing command (relay, valve, time) and reads the state back.
    /// Never throws: the outcome says what happened. Drivers without commands answer `.unsupported`.
    func execute(_ command: MeterCommand, now: () -> Int64) async -> CommandOutcome
}

/// A transport that the scheduler opens per configured bus and closes at shutdown.
public protocol MeterBus: Sendable {
    /// Counters and the last failure (why a device on this bus reads bus_error).
    var statistics: BusStatistics { get }
    /// `statistics` with each device's counters and back-off, by how it is named on the line.
    var statisticsWithDevices: (bus: BusStatistics, devices: [LineDevice: DeviceLineStatistics]) { get }
    func close()
    /// Returns once the bus thread has closed the port or connection (after `close`).
    func closed() async
}

extension ModbusMeterDriver: MeterDriver {}
extension CJT188MeterDriver: MeterDriver {}
extension Bus: MeterBus {}
