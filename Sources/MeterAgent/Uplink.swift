import MeterCore
import MeterUplink

/// The running uplink of `meteragent run`: the MQTT session, the forwarder that empties the
/// outbox into it, and the command service that answers `cmd`/`config` messages. Stopped in
/// reverse order of start: forwarder, then session (which publishes the offline status and
/// disconnects), then the command service (commands already running finish; their results stay
/// in the outbox for the next run); the caller closes the store after that.
public struct Uplink<Outbox: ForwarderOutbox>: Sendable {
    public let session: MQTTSession
    public let forwarder: Forwarder<Outbox, MQTTSession>
    private let sessionTask: Task<Void, Never>
    private let forwarderTask: Task<Void, Never>
    private let incomingTask: Task<Void, Never>
    private let log: Log

    /// `commands` makes the command service from the topics and the forwarder's wake-up (called
    /// when a result is stored); without it, incoming messages are only logged.
    public static func start(config: MQTTConfig, gatewayID: String, version: String, outbox: Outbox, log: Log,
                             commands: ((UplinkTopics, _ wakeForwarder: @escaping @Sendable () -> Void) -> CommandService)? = nil) -> Uplink {
        let session = MQTTSession(config: config, gatewayID: gatewayID, agentVersion: version, log: log)
        let forwarder = Forwarder(outbox: outbox, publisher: session, topics: session.topics, gateway: gatewayID,
                                  maxPayloadBytes: config.maxPayloadBytes, log: log)
        let incoming = session.incoming
        let service = commands?(session.topics, { forwarder.wake() })
        return Uplink(
            session: session, forwarder: forwarder,
            sessionTask: Task { await session.run() },
            forwarderTask: Task { await forwarder.run() },
            incomingTask: Task {
                if let service {
                    await service.run(incoming)
                } else {
                    for await message in incoming {
                        log.info("mqtt message ignored: commands are not enabled", ["mqtt.topic": message.topic, "bytes": String(message.payload.count)])
                    }
                }
            },
            log: log)
    }

    public func stop() async {
        forwarderTask.cancel()
        await forwarderTask.value
        sessionTask.cancel()
        await sessionTask.value
        incomingTask.cancel()
        await incomingTask.value
        let s = forwarder.statistics
        log.info("uplink stopped", ["batches": String(s.batches), "records": String(s.records),
                                    "last_acked_seq": String(s.lastAcknowledgedSeq)])
    }
}
