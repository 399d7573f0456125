import Foundation

/// A household (single-phase) or small feeder (three-phase) electricity meter.
///
/// Active power follows a daily shape (night base load, morning and evening peaks) with seeded
/// noise; voltage sits near 230 V, frequency near 50 Hz, the power factor between 0.90 and 0.99;
/// current, apparent and reactive power follow from those. Import energy integrates active power
/// over time; a tripped relay stops consumption, and so does a load above the load limit (the
/// meter trips itself, as prepaid meters do).
public struct ElectricityModel: Sendable {
    public let phases: Int
    let noise: SeededNoise
    let baseW: Double
    let peakW: Double
    public private(set) var importKWh: Double
    public private(set) var exportKWh: Double
    public private(set) var lastTime: Double?
    /// Connected (true) or tripped (false).
    public var relayClosed = true
    /// A constant active power in W (all phases) set through the control channel, instead of the curve.
    public var pinnedPowerW: Double?
    /// Trips the relay when the demand goes above it (kW, written as `load.limit`); nil: no limit.
    public var loadLimitKW: Double?

    public init(seed: UInt64, phases: Int) {
        self.phases = phases
        noise = SeededNoise(seed: seed)
        let scale = phases == 3 ? 6.0 : 1.0
        baseW = (150 + 250 * noise.unit(1)) * scale
        peakW = (1800 + 1700 * noise.unit(2)) * scale
        importKWh = (500 + 20_000 * noise.unit(3)).rounded() / 10 * (phases == 3 ? 10 : 1)
        exportKWh = 0
    }

    /// Total active power in W at `t`.
    public func powerW(at t: Double) -> Double {
        guard relayClosed else { return 0 }
        return demandW(at: t)
    }

    /// What the household would draw at `t` with the relay closed.
    func demandW(at t: Double) -> Double {
        if let pinnedPowerW { return pinnedPowerW }
        let h = hourOfDay(t)
        let shape = 0.35 * bump(h, centre: 7.5, width: 1.0) + 1.0 * bump(h, centre: 19.5, width: 1.8)
            + 0.15 * bump(h, centre: 13, width: 1.5)
        let jitter = 1 + 0.12 * noise.smooth(10, at: t, period: 30) + 0.05 * noise.smooth(11, at: t, period: 3)
        return max(0, (baseW + peakW * shape) * jitter)
    }

    /// Integrates power from the last call up to `t` (trapezoids of at most one second, so a
    /// constant power integrates exactly). Time never runs backwards here.
    public mutating func advance(to t: Double) {
        guard let last = lastTime else { lastTime = t; return }
        let span = t - last
        guard span > 0 else { return }
        defer {
            // Checked at each advance (each request the meter answers), like a meter's own cycle.
            if relayClosed, let limit = loadLimitKW, demandW(at: t) > limit * 1000 { relayClosed = false }
        }
        let steps = Int(min(200_000, max(1, (span / 1.0).rounded(.up))))
        let h = span / Double(steps)
        var joules = 0.0
        var previous = powerW(at: last)
        for i in 1...steps {
            let p = powerW(at: last + Double(i) * h)
            joules += (previous + p) / 2 * h
            previous = p
        }
        importKWh += joules / 3_600_000
        lastTime = t
    }

    /// Every quantity the model knows, by point name, at `t` (call `advance(to:)` first).
    public func values(at t: Double) -> [String: Double] {
        let p = powerW(at: t)
        let pf = 0.945 + 0.045 * noise.smooth(20, at: t, period: 300)
        let frequency = 50 + 0.03 * noise.smooth(21, at: t, period: 20)
        // Phase shares of a three-phase load are uneven but stable over minutes.
        let weights: [Double] = phases == 3
            ? (0..<3).map { 1 + 0.25 * noise.smooth(30 + UInt64($0), at: t, period: 600) }
            : [1]
        let weightSum = weights.reduce(0, +)
        var out: [String: Double] = [:]
        var currentSum = 0.0, apparentSum = 0.0, reactiveSum = 0.0
        for i in 0..<phases {
            let n = "l\(i + 1)"
            let v = 230 + 2.5 * noise.smooth(40 + UInt64(i), at: t, period: 60) + 0.5 * noise.smooth(50 + UInt64(i), at: t, period: 2)
            let pi = p * weights[i] / weightSum
            let s = pi / pf
            let q = (s * s - pi * pi).squareRoot()
            let current = s / v
            out["voltage.\(n)"] = v
            out["current.\(n)"] = current
            out["power.active.\(n)"] = pi
            out["power.apparent.\(n)"] = s
            out["power.reactive.\(n)"] = q
            out["power_factor.\(n)"] = pf
            currentSum += current
            apparentSum += s
            reactiveSum += q
        }
        out["voltage"] = out["voltage.l1"]
        out["current"] = phases == 1 ? out["current.l1"] : currentSum
        out["current.total"] = currentSum
        for name in ["power.active.total", "power.active", "power.total", "power"] { out[name] = p }
        for name in ["power.apparent.total", "power.apparent"] { out[name] = apparentSum }
        for name in ["power.reactive.total", "power.reactive"] { out[name] = reactiveSum }
        for name in ["power_factor.total", "power_factor"] { out[name] = pf }
        out["frequency"] = frequency
        out["energy.import.total"] = importKWh
        out["energy.export.total"] = exportKWh
        out["energy.total"] = importKWh + exportKWh
        out["relay.state"] = relayClosed ? 1 : 0
        out["load.limit"] = loadLimitKW ?? 0
        return out
    }

    /// Pins a driving quantity. True when `name` is one the physics uses.
    public mutating func pin(_ name: String, _ value: Double?) -> Bool {
        switch name {
        case "power.active.total", "power.active", "power.total", "power":
            pinnedPowerW = value
            return true
        case "relay.state":
            relayClosed = (value ?? 1) != 0
            return true
        case "energy.import.total":
            if let value { importKWh = value }
            return value != nil
        case "load.limit":
            // 0 (or nothing) lifts the limit.
            loadLimitKW = value.flatMap { $0 > 0 ? $0 : nil }
            return true
        default:
            return false
        }
    }
}
