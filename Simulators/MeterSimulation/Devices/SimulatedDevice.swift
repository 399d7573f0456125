import MeterCore
import Synchronization

/// One simulated meter: a profile, a physics model driven by an injected clock, pinned values,
/// and faults. Shared between the thread that serves it and the control channel, so all state
/// sits behind a lock.
public final class SimulatedDevice: Sendable {
    /// The unit id it answers; commissioning moves it (`SimulatedDevice+Commissioning.swift`).
    public var unit: UnitID { currentUnit.withLock { $0 } }
    public let profile: DeviceProfile
    public let kind: DeviceModelKind
    public let seed: UInt64
    private let clock: any SimulationClock
    private let state: Mutex<State>
    let currentUnit: Mutex<UnitID>
    /// Settings written by `meteragent commission`, and those waiting for a restart.
    let commissioning = Mutex(CommissioningState())

    struct State {
        var model: DeviceModel
        var faults: DeviceFaults
        /// Values fixed by `set` or by a Modbus write that the physics does not use.
        var overrides: [String: Double] = [:]
        var requests = 0
        /// The rate the meter's UART runs at; nil = its line's.
        var baud: Int?
    }

    public init(unit: UnitID, profile: DeviceProfile, kind: DeviceModelKind? = nil, seed: UInt64,
                faults: DeviceFaults = DeviceFaults(), baud: Int? = nil, clock: any SimulationClock) {
        currentUnit = Mutex(unit)
        self.profile = profile
        let kind = kind ?? DeviceModelKind(medium: profile.medium)
        self.kind = kind
        self.seed = seed
        self.clock = clock
        var model = DeviceModel(kind: kind, seed: seed, profile: profile)
        model.advance(to: clock.now())
        state = Mutex(State(model: model, faults: faults, baud: baud))
    }

    /// The baud rate this meter listens and answers at; nil means its line's. A line serves it
    /// only while the client's port is set to this rate (see `PacedLine.hears`); commissioning a
    /// new rate sets it.
    public var baud: Int? {
        get { state.withLock { $0.baud } }
        set { state.withLock { $0.baud = newValue } }
    }

    public var faults: DeviceFaults { state.withLock { $0.faults } }

    public func updateFaults(_ body: (inout DeviceFaults) throws(DeviceFaults.SetError) -> Void) throws(DeviceFaults.SetError) {
        try state.withLock { (s: inout State) throws(DeviceFaults.SetError) in try body(&s.faults) }
    }

    public func setFaults(_ faults: DeviceFaults) { state.withLock { $0.faults = faults } }

    /// Every quantity of the model now, by name, with overrides applied.
    public func modelValues() -> [String: Double] {
        let t = clock.now()
        return state.withLock { s in
            s.model.advance(to: t)
            var values = s.model.values(at: t)
            for (name, value) in s.overrides { values[name] = value }
            return values
        }
    }

    /// The engineering value of each of the profile's points now; names the model does not know read 0.
    public func pointValues() -> [PointName: Double] {
        let values = modelValues()
        var out: [PointName: Double] = [:]
        // Modbus register points and DL/T 645 / CJ/T 188 data points alike.
        for name in profile.pointNames { out[name] = values[name.rawValue] ?? 0 }
        return out
    }

    /// The engineering value of one point now.
    public func value(of point: String) -> Double? { modelValues()[point] }

    /// Fixes `point` at `value` (`nil` releases it). Driving quantities (power, flow, valve,
    /// relay) change the physics; anything else is reported as set.
    public func set(_ point: String, to value: Double?) {
        let t = clock.now()
        state.withLock { s in
            s.model.advance(to: t)
            if s.model.pin(point, value) {
                s.overrides[point] = nil
            } else {
                s.overrides[point] = value
            }
        }
    }

    /// A Modbus write or a CJ/T 188 valve command landed on `point`. A faulty valve
    /// (`raise … valve_fault`) does not move: the read-back shows it where it was.
    public func write(_ point: PointName, value: Double) {
        if point.rawValue == "valve.state", isRaised(.valveFault) { return }
        set(point.rawValue, to: value)
    }

    func countRequest() { state.withLock { $0.requests += 1 } }

    /// Requests this device has answered or been asked (for tests and `state`).
    public var requestCount: Int { state.withLock { $0.requests } }
}
