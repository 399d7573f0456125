import MeterCore
import MeterUplink

/// The running uplink of `meteragent run`: the MQTT session, the forwarder that empties the
/// outbox into it, and a listener for `cmd`/`config` messages (logged until the command issues
/// give them a handler). Stopped in reverse order of start: forwarder, then session (which
/// publishes the offline status and disconnects); the caller closes the store after that.
public struct Uplink<Outbox: ForwarderOutbox>: Sendable {
    public let session: MQTTSession
    public let forwarder: Forwarder<Outbox, MQTTSession>
    private let sessionTask: Task<Void, Never>
    private let forwarderTask: Task<Void, Never>
    private let incomingTask: Task<Void, Never>
    private let log: Log

    public static func start(config: MQTTConfig, gatewayID: String, version: String, outbox: Outbox, log: Log) -> Uplink {
        let session = MQTTSession(config: config, gatewayID: gatewayID, agentVersion: version, log: log)
        let forwarder = Forwarder(outbox: outbox, publisher: session, topics: session.topics, gateway: gatewayID,
                                  maxPayloadBytes: config.maxPayloadBytes, log: log)
        let incoming = session.incoming
        return Uplink(
            session: session, forwarder: forwarder,
            sessionTask: Task { await session.run() },
            forwarderTask: Task { await forwarder.run() },
            incomingTask: Task {
                for await message in incoming {
                    log.info("mqtt message received (no handler yet)", ["mqtt.topic": message.topic, "bytes": String(message.payload.count)])
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
