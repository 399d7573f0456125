import MeterCore

/// Where the poller hands its readings. The MQTT outbox takes this place once the uplink lands.
public protocol ReadingSink: Sendable {
    func deliver(_ readings: [Reading]) async
}

/// JSON lines on stdout, one reading a line, flushed per batch so a pipe sees them at once.
public struct JSONLinesSink: ReadingSink {
    public init() {}

    public func deliver(_ readings: [Reading]) async {
        await ConsoleOutput.stdout.write(lines: readings.map(\.json))
    }
}
