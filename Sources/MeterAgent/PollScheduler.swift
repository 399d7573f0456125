import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols

public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Opens one bus per configured bus that has devices (a `ModbusBus`, or a `SerialLineBus` for
/// DL/T 645 and CJ/T 188 lines) and one driver per device, and polls every device on its own
/// interval. Devices on one serial line share that line's bus, which runs their
/// transactions one at a time; a device in back-off is skipped without holding the line.
public final class PollScheduler: Sendable {
    public let site: SiteConfig
    private let buses: [BusID: any MeterBus]
    private let drivers: [DeviceID: any MeterDriver]
    private let records: [DeviceID: DevicePollRecord]
    private let log: Log

    public init(site: SiteConfig, log: Log = .console()) throws(AgentError) {
        self.site = site
        self.log = log
        var buses: [BusID: any MeterBus] = [:]
        var drivers: [DeviceID: any MeterDriver] = [:]
        do throws(DriverFactory.Unsupported) {
            for bus in site.buses where !site.devices(on: bus.id).isEmpty {
                buses[bus.id] = try DriverFactory.openBus(bus)
            }
            for device in site.devices {
                guard let bus = buses[device.bus] else { throw DriverFactory.Unsupported("device \(device.id): unknown bus \(device.bus)") }
                drivers[device.id] = try DriverFactory.driver(for: device, on: bus)
            }
        } catch {
            buses.values.forEach { $0.close() }
            throw AgentError(error.description)
        }
        self.buses = buses
        self.drivers = drivers
        records = Dictionary(site.devices.map { ($0.id, DevicePollRecord()) }, uniquingKeysWith: { first, _ in first })
    }

    public func driver(for device: DeviceID) -> (any MeterDriver)? { drivers[device] }

    /// The open bus of a configured bus id (none for a bus without devices).
    public func bus(_ id: BusID) -> (any MeterBus)? { buses[id] }

    /// What the poller has seen of `device` so far.
    public func pollState(of device: DeviceID) -> DevicePollState? { records[device]?.snapshot }

    /// Why the bus of `device` failed last (cannot open the port, connection refused…), if it did.
    public func busError(of device: DeviceID) -> String? {
        guard let config = site.devices.first(where: { $0.id == device }) else { return nil }
        return buses[config.bus]?.statistics.lastError
    }

    /// Each open bus's counters (the config health check asks whether every bus opened).
    public var busStatistics: [BusID: BusStatistics] { buses.mapValues(\.statistics) }

    /// One live read of a device, as `meteragent read` does it.
    public func readOnce(_ device: DeviceID, points: [PointName]? = nil) async -> [Reading]? {
        guard let driver = drivers[device] else { return nil }
        return await driver.read(points: points, now: WallClock.nowMs)
    }

    /// Polls every device until the task is cancelled or `durationMs` has passed.
    /// `intervalOverrideMs` replaces every device's interval; 0 polls back to back (benchmarks).
    /// `liveness` hears of every completed poll (the service watchdog's sign of progress);
    /// `backPressure` holds polls back while the store cannot take more without evicting.
    public func run(sink: some ReadingSink, durationMs: Int64? = nil, intervalOverrideMs: Int? = nil, liveness: Liveness? = nil,
                    backPressure: StoreBackPressure? = nil) async {
        let clock = ContinuousClock()
        let stop = durationMs.map { clock.now + .milliseconds($0) }
        log.info("polling", ["devices": String(drivers.count), "buses": String(buses.count), "gateway": site.gatewayID])
        await withTaskGroup(of: Void.self) { group in
            for device in site.devices {
                guard let driver = drivers[device.id], let bus = buses[device.bus], let record = records[device.id] else { continue }
                group.addTask { [log] in
                    await Self.poll(device: device, driver: driver, bus: bus, record: record, sink: sink, clock: clock, stop: stop, log: log,
                                    intervalMs: intervalOverrideMs ?? device.pollIntervalMs, liveness: liveness, backPressure: backPressure)
                }
            }
        }
        close()
    }

    private static func poll(device: DeviceConfig, driver: any MeterDriver, bus: any MeterBus, record: DevicePollRecord, sink: some ReadingSink,
                             clock: ContinuousClock, stop: ContinuousClock.Instant?, log: Log, intervalMs: Int,
                             liveness: Liveness?, backPressure: StoreBackPressure?) async {
        let interval = Duration.milliseconds(intervalMs)
        var next = clock.now
        var lastQuality = Quality.good
        var detector = DeviceEventDetector(device: device, localSeconds: { LocalClock.localSeconds(utcMs: $0) })
        while !Task.isCancelled {
            await backPressure?.waitForRoom()
            if Task.isCancelled { return }
            if let stop, clock.now >= stop { return }
            let readings = await driver.read(points: nil, now: WallClock.nowMs)
            await sink.deliver(readings)
            let events = detector.observe(readings)
            if !events.isEmpty {
                for event in events { log.info(Self.logMessage(event), event.logMetadata) }
                await sink.deliver(events: events)
            }
            liveness?.pollCompleted()
            let quality = readings.first { $0.quality != .good }?.quality ?? .good
            record.polled(good: quality == .good || readings.contains { $0.quality == .good }, quality: quality, atMs: WallClock.nowMs())
            if quality != lastQuality {
                if quality == .good {
                    log.info("device recovered", ["device.id": device.id.rawValue])
                } else {
                    if quality == .busError, let busError = bus.statistics.lastError {
                        log.warning("device read failed", ["device.id": device.id.rawValue, "quality": quality.description,
                                                           "bus.error": busError])
                    } else {
                        log.warning("device read failed", ["device.id": device.id.rawValue, "quality": quality.description])
                    }
                }
                lastQuality = quality
            }
            if intervalMs == 0 {
                await Task.yield()
                continue
            }
            // Keep the schedule on a fixed grid; a cycle that overran skips the slots it missed
            // instead of bursting to catch up.
            next += interval
            let now = clock.now
            if next < now {
                let behind = now - next
                let missed = Int64(behind / interval) + 1
                next += interval * missed
            }
            if let stop, next > stop { next = stop }
            try? await Task.sleep(until: next, clock: clock)
        }
    }

    private static func logMessage(_ event: MeterEvent) -> String {
        switch event.kind {
        case .stateChanged: "state changed"
        case .alarmRaised: "alarm raised"
        case .alarmCleared: "alarm cleared"
        }
    }

    /// Reads every device once, all buses in parallel, and returns how long the cycle took.
    /// One read is only a baseline for state changes and hold times, so it looks for no events.
    public func runOnce(sink: some ReadingSink) async -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        await withTaskGroup(of: Void.self) { group in
            for device in site.devices {
                guard let driver = drivers[device.id] else { continue }
                group.addTask {
                    await sink.deliver(await driver.read(points: nil, now: WallClock.nowMs))
                }
            }
        }
        return clock.now - start
    }

    public func close() {
        for bus in buses.values { bus.close() }
    }

    /// Returns once every bus has closed its port or connection (after `close`).
    public func closed() async {
        for bus in buses.values { await bus.closed() }
    }
}
