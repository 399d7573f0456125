import MeterCore

/// Alarm conditions a test or a demo raises on a simulated meter through the control channel
/// (`raise LINE UNIT leak`, `clear LINE UNIT leak`). Each is a flag the device then serves the way
/// its protocol does — a Modbus discrete input, a CJ/T 188 status bit, a DL/T 645 status word bit
/// or counter — so the agent finds it by reading, as it would on a real meter.
public enum MeterCondition: String, Sendable, Hashable, CaseIterable {
    /// The gas meter's leak (methane) alarm.
    case leak
    /// The meter cover was opened (tamper switch).
    case tamper
    /// The valve does not move or does not reach its position.
    case valveFault = "valve_fault"
    /// The meter's battery is low.
    case batteryLow = "battery_low"
    /// A DL/T 645 meter's clock battery is low (status word 1, bit 2).
    case clockBatteryLow = "clock_battery_low"

    /// The device value that carries the flag (1 raised, 0 clear); profiles use the same names.
    public var point: String {
        switch self {
        case .leak: "gas.leak"
        case .tamper: "tamper.cover"
        case .valveFault: "valve.fault"
        case .batteryLow: "battery.low"
        case .clockBatteryLow: "battery.clock_low"
        }
    }

    /// DL/T 645 meters count cover openings (DI 03300D00) instead of showing the cover's state.
    public static let coverOpenCount = "tamper.cover_count"

    /// Whether the condition is raised in a device's values (`SimulatedDevice.modelValues()`).
    public func isRaised(in values: [String: Double]) -> Bool { (values[point] ?? 0) != 0 }
}

extension SimulatedDevice {
    /// Raises or clears a condition. Raising the tamper condition counts one more cover opening.
    public func setCondition(_ condition: MeterCondition, raised: Bool) {
        let wasRaised = isRaised(condition)
        set(condition.point, to: raised ? 1 : 0)
        if condition == .tamper, raised, !wasRaised {
            set(MeterCondition.coverOpenCount, to: (value(of: MeterCondition.coverOpenCount) ?? 0) + 1)
        }
    }

    public func isRaised(_ condition: MeterCondition) -> Bool { condition.isRaised(in: modelValues()) }

    /// The conditions raised now, for `state` on the control channel.
    public var raisedConditions: [MeterCondition] { MeterCondition.allCases.filter(isRaised) }
}
