import MeterCore

/// The topics of DESIGN.md's uplink contract under one prefix (`meteragent/<gateway-id>`).
public struct UplinkTopics: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String) { self.prefix = prefix }

    /// Retained online/offline state; also the last will.
    public var status: String { prefix + "/status" }
    public var readings: String { prefix + "/readings" }
    public var events: String { prefix + "/events" }
    public var commandResults: String { prefix + "/cmd/result" }
    /// Downward: signed command envelopes and signed configurations.
    public var commands: String { prefix + "/cmd" }
    public var config: String { prefix + "/config" }

    public func topic(for kind: RecordKind) -> String {
        switch kind {
        case .reading: readings
        case .event: events
        case .commandResult: commandResults
        }
    }
}
