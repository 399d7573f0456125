import Foundation

/// Integrates a flow in m³/h over time into m³, trapezoids of at most one second.
func integrateVolume(from start: Double, to end: Double, flow: (Double) -> Double) -> Double {
    let span = end - start
    guard span > 0 else { return 0 }
    let steps = Int(min(200_000, max(1, span.rounded(.up))))
    let h = span / Double(steps)
    var total = 0.0
    var previous = flow(start)
    for i in 1...steps {
        let q = flow(start + Double(i) * h)
        total += (previous + q) / 2 * h
        previous = q
    }
    return total / 3600
}

/// Moves a meter's total from `lastTime` to `t` (the first call only starts the clock).
func advanceVolume(_ totalM3: inout Double, since lastTime: inout Double?, to t: Double, flow: (Double) -> Double) {
    guard let last = lastTime else { lastTime = t; return }
    guard t > last else { return }
    totalM3 += integrateVolume(from: last, to: t, flow: flow)
    lastTime = t
}

/// An ultrasonic water flow meter on a building's supply pipe (DN50): flow in m³/h with a daily
/// shape, totals that integrate it, the velocity that goes with it, and the receiver's signal quality.
public struct WaterModel: Sendable {
    let noise: SeededNoise
    let peakFlow: Double
    public private(set) var totalM3: Double
    public private(set) var lastTime: Double?
    public var valveOpen = true
    public var pinnedFlow: Double?
    /// Cross-section of a DN50 pipe in m².
    static let pipeArea = Double.pi * 0.025 * 0.025

    public init(seed: UInt64) {
        noise = SeededNoise(seed: seed)
        peakFlow = 2 + 4 * noise.unit(1)
        totalM3 = (1000 + 50_000 * noise.unit(2)).rounded()
    }

    public func flow(at t: Double) -> Double {
        guard valveOpen else { return 0 }
        if let pinnedFlow { return pinnedFlow }
        let h = hourOfDay(t)
        let shape = 0.05 + 0.8 * bump(h, centre: 7, width: 1.2) + 0.6 * bump(h, centre: 20, width: 2) + 0.2 * bump(h, centre: 12.5, width: 1.5)
        return max(0, peakFlow * shape * (1 + 0.2 * noise.smooth(10, at: t, period: 20)))
    }

    public mutating func advance(to t: Double) {
        let model = self
        advanceVolume(&totalM3, since: &lastTime, to: t, flow: model.flow(at:))
    }

    public func values(at t: Double) -> [String: Double] {
        let q = flow(at: t)
        var out: [String: Double] = [:]
        out["flow.rate"] = q
        out["flow.velocity"] = q / 3600 / Self.pipeArea
        // The meter's accumulators are whole m³; the register type truncates or rounds them.
        for name in ["volume.total", "volume.positive", "volume.net"] { out[name] = totalM3 }
        out["volume.negative"] = 0
        out["signal.quality"] = (88 + 6 * noise.smooth(20, at: t, period: 120)).rounded()
        out["valve.state"] = valveOpen ? 1 : 0
        return out
    }

    public mutating func pin(_ name: String, _ value: Double?) -> Bool {
        switch name {
        case "flow.rate": pinnedFlow = value; return true
        case "valve.state": valveOpen = (value ?? 1) != 0; return true
        case "volume.total", "volume.positive":
            if let value { totalM3 = value }
            return value != nil
        default: return false
        }
    }
}

/// A domestic gas meter with a shut-off valve: the boiler cycles on and off, pressure sits near
/// 2.1 kPa (low-pressure distribution), the gas temperature follows the day. A closed valve
/// stops the flow and so the total.
public struct GasModel: Sendable {
    let noise: SeededNoise
    let burnerFlow: Double
    public private(set) var totalM3: Double
    public private(set) var lastTime: Double?
    /// Coil `valve.state`: 1 = open (gas flows), 0 = closed.
    public var valveOpen = true
    public var batteryLow = false
    public var pinnedFlow: Double?

    public init(seed: UInt64) {
        noise = SeededNoise(seed: seed)
        burnerFlow = 0.8 + 1.2 * noise.unit(1)
        totalM3 = (100 + 5000 * noise.unit(2)).rounded() + 0.123
    }

    public func flow(at t: Double) -> Double {
        guard valveOpen else { return 0 }
        if let pinnedFlow { return pinnedFlow }
        let h = hourOfDay(t)
        // Heating demand is higher in the morning and evening; the burner is on while noise stays below it.
        let demand = 0.15 + 0.5 * bump(h, centre: 6.5, width: 1.5) + 0.45 * bump(h, centre: 19, width: 2.5)
        let on = (noise.smooth(10, at: t, period: 90) + 1) / 2 < demand
        return on ? burnerFlow * (1 + 0.05 * noise.smooth(11, at: t, period: 5)) : 0
    }

    public mutating func advance(to t: Double) {
        let model = self
        advanceVolume(&totalM3, since: &lastTime, to: t, flow: model.flow(at:))
    }

    public func values(at t: Double) -> [String: Double] {
        var out: [String: Double] = [:]
        out["flow.rate"] = flow(at: t)
        out["volume.total"] = totalM3
        out["pressure"] = 2.1 + 0.05 * noise.smooth(20, at: t, period: 40)
        out["temperature"] = 12 + 4 * sin((hourOfDay(t) - 9) / 24 * 2 * .pi) + 0.3 * noise.smooth(21, at: t, period: 300)
        out["valve.state"] = valveOpen ? 1 : 0
        out["battery.low"] = batteryLow ? 1 : 0
        return out
    }

    public mutating func pin(_ name: String, _ value: Double?) -> Bool {
        switch name {
        case "flow.rate": pinnedFlow = value; return true
        case "valve.state": valveOpen = (value ?? 1) != 0; return true
        case "battery.low": batteryLow = (value ?? 0) != 0; return true
        case "volume.total":
            if let value { totalM3 = value }
            return value != nil
        default: return false
        }
    }
}
