import Foundation

/// Deterministic pseudo-randomness from a seed: the same seed and time give the same value on
/// every run and every machine (Swift's `Hasher` is randomised per process, so it is not used).
public struct SeededNoise: Sendable, Hashable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [-1, 1] for lattice point `k` of `stream`.
    public func lattice(_ stream: UInt64, _ k: Int64) -> Double {
        let h = Self.mix(seed ^ Self.mix(stream &* 0x100_0000_01B3 ^ UInt64(bitPattern: k)))
        return Double(h >> 11) / Double(1 << 53) * 2 - 1
    }

    /// A uniform value in [0, 1) fixed by `stream` alone: for per-device parameters.
    public func unit(_ stream: UInt64) -> Double { (lattice(stream, 0) + 1) / 2 }

    /// Smooth noise in [-1, 1] that changes over about `period` seconds.
    public func smooth(_ stream: UInt64, at t: Double, period: Double) -> Double {
        let x = t / period
        let k = x.rounded(.down)
        let f = x - k
        let s = f * f * (3 - 2 * f)
        let a = lattice(stream, Int64(k)), b = lattice(stream, Int64(k) + 1)
        return a + (b - a) * s
    }

    /// FNV-1a of a string, stable across runs, for deriving device seeds from names.
    public static func stableHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01B3
        }
        return h
    }
}

/// A small seeded generator for fault bytes (garbage).
public struct SplitMixGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededNoise.mix(state)
    }
}

/// Gaussian bump used to draw daily load shapes: 1 at `centre` hours, falling off over `width`.
func bump(_ hour: Double, centre: Double, width: Double) -> Double {
    // Distance around the clock, so a bump near midnight wraps.
    var d = abs(hour - centre)
    d = min(d, 24 - d)
    return exp(-(d * d) / (2 * width * width))
}

/// Hour of day (UTC) of a Unix time.
func hourOfDay(_ t: Double) -> Double {
    let seconds = t.truncatingRemainder(dividingBy: 86_400)
    return (seconds < 0 ? seconds + 86_400 : seconds) / 3600
}
