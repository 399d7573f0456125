import MeterCore

/// Which physics a simulated device runs.
public enum DeviceModelKind: String, Sendable, Hashable, CaseIterable {
    case electricity, water, gas

    /// The natural model for a profile's medium (heat meters flow like water).
    public init(medium: Medium) {
        switch medium {
        case .electricity: self = .electricity
        case .water, .heat: self = .water
        case .gas: self = .gas
        }
    }
}

/// The physics of one device, whichever kind it is.
public enum DeviceModel: Sendable {
    case electricity(ElectricityModel)
    case water(WaterModel)
    case gas(GasModel)

    public init(kind: DeviceModelKind, seed: UInt64, profile: DeviceProfile) {
        switch kind {
        case .electricity:
            let phases = profile.pointNames.contains(PointName("voltage.l2")) ? 3 : 1
            self = .electricity(ElectricityModel(seed: seed, phases: phases))
        case .water: self = .water(WaterModel(seed: seed))
        case .gas: self = .gas(GasModel(seed: seed))
        }
    }

    public mutating func advance(to t: Double) {
        switch self {
        case var .electricity(m): m.advance(to: t); self = .electricity(m)
        case var .water(m): m.advance(to: t); self = .water(m)
        case var .gas(m): m.advance(to: t); self = .gas(m)
        }
    }

    public func values(at t: Double) -> [String: Double] {
        switch self {
        case let .electricity(m): m.values(at: t)
        case let .water(m): m.values(at: t)
        case let .gas(m): m.values(at: t)
        }
    }

    /// Hands a written or pinned value to the physics; false if the physics does not use it.
    public mutating func pin(_ name: String, _ value: Double?) -> Bool {
        switch self {
        case var .electricity(m): let used = m.pin(name, value); self = .electricity(m); return used
        case var .water(m): let used = m.pin(name, value); self = .water(m); return used
        case var .gas(m): let used = m.pin(name, value); self = .gas(m); return used
        }
    }
}
