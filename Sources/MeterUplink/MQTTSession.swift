#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMosquitto
import MeterCore
import Synchronization

/// The gateway's MQTT session with the head-end's broker: connects (and reconnects with capped,
/// jittered exponential back-off), announces itself on the retained `status` topic with a last
/// will that says offline, subscribes `cmd` and `config`, and publishes with QoS 1, returning only
/// after the broker's PUBACK.
///
/// `run()` supervises the connection until its task is cancelled, then publishes the offline
/// status and disconnects. A broker that is unreachable at start is normal: `publish` fails fast
/// with `.notConnected` and the records wait in the outbox; `waitUntilConnected()` tells the
/// forwarder when to try again.
public final class MQTTSession: Sendable {
    public let config: MQTTConfig
    public let topics: UplinkTopics
    public let gatewayID: String
    public let agentVersion: String
    /// Messages received on `cmd` and `config`, bounded: when the consumer falls behind, new
    /// messages are dropped and counted (QoS 1 means the head-end re-sends what it cares about).
    public let incoming: AsyncStream<MQTTMessage>
    private let incomingSink: AsyncStream<MQTTMessage>.Continuation
    private let log: Log
    /// Where the system's CA certificates are, for `tls:` without `ca_file`.
    private let systemCAPath: String

    private struct State: Sendable {
        var connection: MosquittoConnection?
        var connectedWaiters: [Promise<Bool>] = []
        var finished = false
        var droppedIncoming = 0
        var connectedSinceMs: Int64 = 0
        /// When the link last went down (or the session started), for `linkStatus`.
        var downSinceMs = WallClock.nowMs()
        var lastError: String?
    }

    private let state = Mutex(State())

    public init(config: MQTTConfig, gatewayID: String, agentVersion: String, log: Log,
                incomingBuffer: Int = 32, systemCAPath: String = "/etc/ssl/certs") {
        self.config = config
        self.topics = UplinkTopics(prefix: config.topicPrefix)
        self.gatewayID = gatewayID
        self.agentVersion = agentVersion
        self.log = log
        self.systemCAPath = systemCAPath
        (incoming, incomingSink) = AsyncStream.makeStream(of: MQTTMessage.self, bufferingPolicy: .bufferingOldest(max(1, incomingBuffer)))
    }

    /// True while a connection is up and announced online.
    public var isConnected: Bool { state.withLock { $0.connection?.isOpen ?? false } }

    /// Connected or not, since when (wall-clock ms), and the last connect failure or connection loss.
    public var linkStatus: (connected: Bool, sinceMs: Int64, lastError: String?) {
        state.withLock { s in
            let up = s.connection?.isOpen ?? false
            return (up, up ? s.connectedSinceMs : s.downSinceMs, s.lastError)
        }
    }

    /// Messages dropped because `incoming` was full.
    public var droppedIncoming: Int { state.withLock { $0.droppedIncoming } }

    /// Waits until the session is connected; false when the session has ended or the waiting
    /// task was cancelled.
    public func waitUntilConnected() async -> Bool {
        let promise = Promise<Bool>()
        let ready: Bool? = state.withLock { s in
            if s.finished { return false }
            if s.connection?.isOpen == true { return true }
            s.connectedWaiters.append(promise)
            return nil
        }
        if let ready { return ready }
        return await promise.value(onCancel: false)
    }

    /// Publishes with QoS 1 and returns after the broker's PUBACK. Throws `.notConnected` at once
    /// when there is no connection; a PUBACK that does not come within `publishTimeoutMs` drops
    /// the connection (the session reconnects, the caller re-sends in order).
    public func publish(topic: String, payload: String, retain: Bool = false) async throws(MQTTError) {
        guard let connection = state.withLock({ $0.connection }), connection.isOpen else {
            throw MQTTError(.notConnected, "not connected to \(config.host):\(config.port)")
        }
        let result = await connection.publish(topic: topic, payload: payload, retain: retain, timeoutMs: config.publishTimeoutMs)
        if case let .failure(error) = result {
            if error.kind == .timeout { connection.drop(error) }
            throw error
        }
    }

    /// Publishes messages with QoS 1 in their order and waits for all their PUBACKs at once: the
    /// outcome of each, in order. A message whose send failed, and every one after it, is not sent.
    public func publishInOrder(_ messages: [OutgoingMessage]) async -> [Result<Void, MQTTError>] {
        guard let connection = state.withLock({ $0.connection }), connection.isOpen else {
            let error = MQTTError(.notConnected, "not connected to \(config.host):\(config.port)")
            return messages.map { _ in .failure(error) }
        }
        var sent: [MosquittoConnection.Sent] = []
        for message in messages {
            let handed = connection.send(topic: message.topic, payload: message.payload, retain: message.retain)
            sent.append(handed)
            if case let .settled(.failure(error)) = handed {
                sent += Array(repeating: .settled(.failure(error)), count: messages.count - sent.count)
                break
            }
        }
        var outcomes: [Result<Void, MQTTError>] = []
        for handed in sent {
            let outcome = await connection.acknowledgement(of: handed, timeoutMs: config.publishTimeoutMs)
            if case let .failure(error) = outcome, error.kind == .timeout { connection.drop(error) }
            outcomes.append(outcome)
        }
        return outcomes
    }

    // MARK: - Supervision

    /// Connects, keeps the connection, reconnects after back-off; returns when the task is
    /// cancelled, after publishing the offline status and disconnecting.
    public func run() async {
        var backoff = ReconnectBackoff(policy: .init(minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs),
                                       random: SystemRandomNumberGenerator())
        var action = backoff.start()
        var lastFailure: String?
        log.info("mqtt connecting", describeEndpoint())
        while !Task.isCancelled {
            switch action {
            case .connect:
                switch await connectOnce() {
                case let .success(connection):
                    action = backoff.connected(nowMs: MonotonicClock.nowMs())
                    lastFailure = nil
                    await keep(connection)
                    if Task.isCancelled {
                        await shutdown(connection)
                        finish()
                        return
                    }
                    action = backoff.connectionLost(nowMs: MonotonicClock.nowMs())
                    logRetry(action, attempt: backoff.failures)
                case let .failure(error):
                    if Task.isCancelled { break }
                    state.withLock { $0.lastError = error.message }
                    action = backoff.connectFailed()
                    // The same failure every minute is one line each; a new kind of failure is a warning.
                    let level: Log.Level = lastFailure == error.message ? .info : .warning
                    lastFailure = error.message
                    var metadata = describeEndpoint()
                    metadata.append("mqtt.error", error.kind.rawValue)
                    if case let .wait(ms) = action { metadata.append("retry_in_ms", String(ms)) }
                    metadata.append("attempt", String(backoff.failures))
                    if level == .warning {
                        log.warning("mqtt connect failed: " + error.message, metadata)
                    } else {
                        log.info("mqtt connect failed again: " + error.message, metadata)
                    }
                }
            case let .wait(ms):
                try? await Task.sleep(for: .milliseconds(ms))
                action = backoff.waitElapsed()
            case .none:
                action = backoff.stop()
                finish()
                return
            }
        }
        _ = backoff.stop()
        finish()
    }

    private func describeEndpoint() -> LogMetadata {
        var metadata: LogMetadata = ["mqtt.broker": "\(config.host):\(config.port)", "mqtt.client_id": config.clientID]
        if config.tls != nil { metadata.append("mqtt.tls", "on") }
        return metadata
    }

    private func logRetry(_ action: ReconnectBackoff<SystemRandomNumberGenerator>.Action, attempt: Int) {
        if case let .wait(ms) = action {
            log.info("mqtt reconnecting", ["retry_in_ms": String(ms), "attempt": String(attempt)])
        }
    }

    /// One attempt: connect, subscribe, announce online. The connection is returned open or closed.
    private func connectOnce() async -> Result<MosquittoConnection, MQTTError> {
        let options: ConnectionOptions
        switch connectionOptions() {
        case let .success(o): options = o
        case let .failure(error): return .failure(error)
        }
        let connection: MosquittoConnection
        do {
            try await MosquittoLibrary.loadOffPool()
            connection = try MosquittoConnection(options: options, log: log) { [weak self] message in
                self?.received(message)
            }
        } catch {
            return .failure(error)
        }
        if case let .failure(error) = await connection.connect() {
            await connection.close()
            return .failure(error)
        }
        for topic in [topics.commands, topics.config] {
            if let error = connection.subscribe(topic) {
                await connection.close()
                return .failure(error)
            }
        }
        let since = WallClock.nowMs()
        let online = StatusMessage.online(version: agentVersion, sinceMs: since)
        if case let .failure(error) = await connection.publish(topic: topics.status, payload: online, retain: true,
                                                               timeoutMs: config.publishTimeoutMs) {
            await connection.close()
            return .failure(error)
        }
        return .success(connection)
    }

    /// Holds `connection` as the session's own until it closes or the task is cancelled.
    private func keep(_ connection: MosquittoConnection) async {
        let waiters = state.withLock { s in
            s.connection = connection
            s.connectedSinceMs = WallClock.nowMs()
            let waiters = s.connectedWaiters
            s.connectedWaiters = []
            return waiters
        }
        var metadata = describeEndpoint()
        metadata.append("mqtt.protocol", config.protocolVersion.rawValue)
        log.info("mqtt connected", metadata)
        for waiter in waiters { waiter.fulfill(true) }

        let reason = await connection.closed.value(onCancel: MQTTError(.cancelled, "shutting down"))
        if reason.kind != .cancelled {
            state.withLock { s in
                s.connection = nil
                s.downSinceMs = WallClock.nowMs()
                s.lastError = "connection lost: " + reason.message
            }
            log.warning("mqtt connection lost: " + reason.message, ["mqtt.broker": "\(config.host):\(config.port)"])
            await connection.close()
        }
    }

    /// Clean shutdown: retained offline status (waits briefly for its PUBACK), DISCONNECT, join.
    /// Runs in a task of its own because the caller's task is already cancelled.
    private func shutdown(_ connection: MosquittoConnection) async {
        let topic = topics.status
        let payload = StatusMessage.offline(version: agentVersion, sinceMs: WallClock.nowMs())
        let timeout = min(config.publishTimeoutMs, 2_000)
        let log = self.log
        let endpoint = "\(config.host):\(config.port)"
        await Task {
            state.withLock { $0.connection = nil }
            if connection.isOpen {
                let result = await connection.publish(topic: topic, payload: payload, retain: true, timeoutMs: timeout)
                if case let .failure(error) = result { log.warning("mqtt offline status not acknowledged: " + error.message) }
            }
            await connection.close()
            log.info("mqtt disconnected", ["mqtt.broker": endpoint])
        }.value
    }

    private func finish() {
        let waiters = state.withLock { s in
            s.finished = true
            s.connection = nil
            let waiters = s.connectedWaiters
            s.connectedWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.fulfill(false) }
        incomingSink.finish()
    }

    private func received(_ message: MQTTMessage) {
        if case .dropped = incomingSink.yield(message) {
            let dropped = state.withLock { s in
                s.droppedIncoming += 1
                return s.droppedIncoming
            }
            log.warning("mqtt incoming queue full, message dropped", ["mqtt.topic": message.topic, "dropped": String(dropped)])
        }
    }

    /// Options for the next attempt; the password file is read now, so a rotated password is used.
    private func connectionOptions() -> Result<ConnectionOptions, MQTTError> {
        var password: String?
        switch config.password {
        case nil: password = nil
        case let .inline(secret): password = secret.reveal
        case let .file(path):
            guard let text = readTextFile(path) else {
                return .failure(MQTTError(.configuration, "cannot read password_file \(path): " + String(cString: strerror(errno))))
            }
            var trimmed = Substring(text)
            while let last = trimmed.last, last == "\n" || last == "\r" { trimmed = trimmed.dropLast() }
            password = String(trimmed)
        }
        let tls = config.tls.map { t in
            ConnectionOptions.TLSFiles(caFile: t.caFile, caPath: t.caFile == nil ? systemCAPath : nil,
                                       certFile: t.certFile, keyFile: t.keyFile, insecure: t.insecure)
        }
        let will = StatusMessage.lastWill(version: agentVersion, connectedMs: WallClock.nowMs())
        return .success(ConnectionOptions(
            host: config.host, port: config.port, clientID: config.clientID, username: config.username,
            password: password, keepaliveSeconds: config.keepaliveSeconds, cleanSession: config.cleanSession,
            protocolVersion: config.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311,
            tls: tls, will: (topics.status, will), connectTimeoutMs: max(config.publishTimeoutMs, 5_000)))
    }
}
