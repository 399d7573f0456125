import MeterCore

/// Where the poller hands its readings, and the events it found in them (state changes, alarms).
public protocol ReadingSink: Sendable {
    func deliver(_ readings: [Reading]) async
    /// Events are rare and urgent: a sink keeps every one (no silent drop) and passes them on
    /// without waiting for a batch to fill.
    func deliver(events: [MeterEvent]) async
}

/// JSON lines on stdout, one reading a line, flushed per batch so a pipe sees them at once.
public struct JSONLinesSink: ReadingSink {
    public init() {}

    public func deliver(_ readings: [Reading]) async {
        await ConsoleOutput.stdout.write(lines: readings.map(\.json))
    }

    /// One line per event; its `type` tells it from a reading.
    public func deliver(events: [MeterEvent]) async {
        await ConsoleOutput.stdout.write(lines: events.map(\.json))
    }
}
