import MeterProtocols

/// A named boolean inside a status word, as a profile's `bits:` lists it: bit 4 of DL/T 645
/// status word 3 is `relay.open`. Bits count from the least significant bit of the point's value
/// (0 = 0x0001), whatever byte order the meter sends.
public struct StatusBit: Sendable, Hashable {
    public var name: PointName
    public var bit: Int

    public init(name: PointName, bit: Int) {
        self.name = name
        self.bit = bit
    }
}

/// Which changes of a point the agent reports as `state.changed` events: the point's whole value
/// (`state: true` in the profile: a valve position, a battery flag) and each named bit of a
/// status word (`bits:`). Changes of anything else — a voltage, a total — are readings only.
public struct StateWatch: Sendable, Hashable {
    /// A change of the value as read is an event.
    public var whole: Bool
    /// Each bit is a boolean state of its own; the word's other bits are not watched.
    public var bits: [StatusBit]

    public init(whole: Bool, bits: [StatusBit] = []) {
        self.whole = whole
        self.bits = bits
    }

    public var isEmpty: Bool { !whole && bits.isEmpty }
}

extension MeterValue {
    /// The value as a whole number, for picking bits out of a status word: nil for fractions,
    /// negative numbers and values too large for 64 bits.
    public var unsignedBits: UInt64? {
        switch self {
        case let .bool(b): return b ? 1 : 0
        case let .real(r):
            guard r.isFinite, r >= 0, r < 1.8e19, r == r.rounded(.towardZero) else { return nil }
            return UInt64(r)
        case let .decimal(d):
            guard d.significand >= 0 else { return nil }
            var value = UInt64(d.significand)
            if d.exponent >= 0 {
                for _ in 0..<d.exponent {
                    let (m, overflow) = value.multipliedReportingOverflow(by: 10)
                    if overflow { return nil }
                    value = m
                }
                return value
            }
            for _ in 0..<(-d.exponent) {
                guard value % 10 == 0 else { return nil }
                value /= 10
            }
            return value
        }
    }

    /// Equal as numbers (or booleans): `1.50` and `1.5` are the same reading of a state, even if a
    /// meter sends them with different digits.
    public func sameValue(as other: MeterValue) -> Bool {
        switch (self, other) {
        case let (.bool(a), .bool(b)): return a == b
        case let (.decimal(a), .decimal(b)): return a.hasSameValue(as: b)
        default:
            return doubleValue == other.doubleValue
        }
    }
}
