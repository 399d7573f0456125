import MeterCore

/// Turns one device's readings into `state.changed` events for the points its profile marks as
/// states (`state: true`) and the named bits of its status words (`bits:`).
///
/// The first good value of each state after start is the baseline, not a change: the agent does
/// not know what the meter showed before it started. A reading that is not good (timeout, CRC
/// error, back-off…) says nothing about the state, so it neither reports a change nor forgets the
/// last good value: a valve that reads closed, then times out, then reads closed again is one
/// state, not two changes.
public struct StateChangeDetector: Sendable {
    private let states: [PointName: StateWatch]
    /// The last good value of every watched point and bit, by the name its events carry.
    private var last: [PointName: MeterValue] = [:]

    public init(states: [PointName: StateWatch]) {
        self.states = states.filter { !$0.value.isEmpty }
    }

    /// Nothing to watch: the poller can skip this detector.
    public var isEmpty: Bool { states.isEmpty }

    /// The changes `readings` (one poll of one device) show against the values seen before.
    public mutating func observe(_ readings: [Reading]) -> [MeterEvent] {
        var events: [MeterEvent] = []
        for reading in readings where reading.quality == .good {
            guard let watch = states[reading.point], let value = reading.value else { continue }
            if watch.whole {
                compare(reading.point, value, reading, into: &events)
            }
            // A status word that does not decode to a whole number (a fraction, a negative)
            // carries no bits; its last bits stay as they were.
            if !watch.bits.isEmpty, let word = value.unsignedBits {
                for bit in watch.bits {
                    compare(bit.name, .bool(word >> UInt64(bit.bit) & 1 == 1), reading, into: &events)
                }
            }
        }
        return events
    }

    /// Stores `value` only when it is the first or differs from the last one: most polls change
    /// nothing. A value equal in other digits (`1.5` after `1.50`) is stored but is no change.
    private mutating func compare(_ name: PointName, _ value: MeterValue, _ reading: Reading, into events: inout [MeterEvent]) {
        guard let previous = last[name] else {
            last[name] = value
            return
        }
        if previous == value { return }
        last[name] = value
        guard !previous.sameValue(as: value) else { return }
        events.append(MeterEvent(device: reading.device, point: name, timestampMs: reading.timestampMs,
                                 kind: .stateChanged(from: previous, to: value)))
    }
}
