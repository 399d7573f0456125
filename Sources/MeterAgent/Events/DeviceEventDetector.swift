import MeterCore

/// Everything one device's poll can turn into events: state changes from its profile, threshold
/// alarms from its site config. Owned by that device's poll task alone, so it needs no lock.
public struct DeviceEventDetector: Sendable {
    private var states: StateChangeDetector
    private var alarms: ThresholdAlarms

    public init(device: DeviceConfig, localSeconds: @escaping @Sendable (Int64) -> Int64) {
        states = StateChangeDetector(states: device.profile.states)
        alarms = ThresholdAlarms(rules: device.alarms, localSeconds: localSeconds)
    }

    public var isEmpty: Bool { states.isEmpty && alarms.isEmpty }

    /// State changes first, then alarms, each in reading order. A part with nothing to watch does
    /// not look at the readings.
    public mutating func observe(_ readings: [Reading]) -> [MeterEvent] {
        var events = states.isEmpty ? [] : states.observe(readings)
        if !alarms.isEmpty { events += alarms.observe(readings) }
        return events
    }
}
