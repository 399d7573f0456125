#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMosquitto
import MeterCore
import Synchronization

/// Everything one connection attempt needs, with the password already read (it lives only here
/// and in libmosquitto's memory, never in a message).
struct ConnectionOptions: Sendable {
    var host: String
    var port: Int
    var clientID: String
    var username: String?
    var password: String?
    var keepaliveSeconds: Int
    var cleanSession: Bool
    var protocolVersion: Int32
    var tls: TLSFiles?
    var will: (topic: String, payload: String)?
    var connectTimeoutMs: Int

    struct TLSFiles: Sendable {
        var caFile: String?
        var caPath: String?
        var certFile: String?
        var keyFile: String?
        var insecure: Bool
    }

    var endpoint: String { "\(host):\(port)" }
}

/// One MQTT connection: owns one `mosquitto*` from `mosquitto_new` to `mosquitto_destroy`.
/// A new object is made for every attempt, so nothing queued inside libmosquitto survives a
/// disconnect: unacknowledged records are re-sent from the outbox, in order, never by the library
/// on its own (which could reorder them).
///
/// libmosquitto's network thread (`mosquitto_loop_start`) runs the callbacks; they find this
/// object through the `obj` pointer (unretained: the session keeps the object alive until
/// `close()` has joined that thread) and hand results to Swift through `Promise`s.
///
/// `@unchecked Sendable` because of `handle`: the pointer itself never changes, and it is only
/// passed to libmosquitto functions that are safe to call while its network thread runs
/// (publish, subscribe, disconnect), or used before that thread starts / after it was joined
/// (set-up, connect, loop_stop, destroy). All mutable Swift state is inside `state`'s mutex;
/// nothing here calls into libmosquitto while holding it, so the library's own locks and ours
/// never nest the other way round.
final class MosquittoConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    /// libmosquitto's functions (loaded on first use).
    private let mosquitto: meteragent_mosquitto_api
    let options: ConnectionOptions
    private let log: Log
    private let onMessage: @Sendable (MQTTMessage) -> Void

    /// CONNACK: success, or why the broker refused / the attempt failed.
    let connack = Promise<Result<Void, MQTTError>>()
    /// Why the connection ended; fulfilled once.
    let closed = Promise<MQTTError>()

    private struct State: Sendable {
        var pending: [Int32: Promise<Result<Void, MQTTError>>] = [:]
        /// PUBACKs that arrived before `publish` registered its mid (the broker can be faster
        /// than the return from `mosquitto_publish`): mid → reason code.
        var earlyAcks: [Int32: Int32] = [:]
        var isClosed = false
        /// A thread is inside `mosquitto_connect`; until it returns, only it may touch the handle.
        var connecting = false
        var loopRunning = false
        /// Set by `close()`: a connect still blocked in its thread must not start the loop.
        var abandoned = false
        /// Why we dropped the connection ourselves (e.g. PUBACK timeout), for the closed reason.
        var dropReason: MQTTError?
        /// The last error line libmosquitto logged (OpenSSL's reason for a TLS failure).
        var lastLibraryError: String?
    }

    private let state = Mutex(State())

    init(options: ConnectionOptions, log: Log, onMessage: @escaping @Sendable (MQTTMessage) -> Void) throws(MQTTError) {
        let mosquitto = try MosquittoLibrary.load()
        guard let handle = mosquitto.new(options.clientID, options.cleanSession, nil) else {
            throw MQTTError(.configuration, "mosquitto_new failed for client id '\(options.clientID)': " + String(cString: strerror(errno)))
        }
        self.handle = handle
        self.mosquitto = mosquitto
        self.options = options
        self.log = log
        self.onMessage = onMessage
        try configure()
    }

    deinit {
        // close() joins the network thread; this is only a safety net for a path that forgot it.
        if state.withLock({ $0.loopRunning }) { _ = mosquitto.loop_stop(handle, true) }
        mosquitto.destroy(handle)
    }

    private func check(_ rc: Int32, _ what: String) throws(MQTTError) {
        guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
            throw MQTTError(.configuration, "\(what): " + MosquittoLibrary.describe(rc, errno: errno))
        }
    }

    private func configure() throws(MQTTError) {
        mosquitto.user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        try check(mosquitto.int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, options.protocolVersion), "MQTT protocol version")
        // No Nagle: a command's result would otherwise wait behind the PUBACK of the command itself
        // until the broker's delayed ACK (~40 ms). Batches are large, so this adds few packets.
        try check(mosquitto.int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), "MQTT TCP_NODELAY")
        // The session decides when to reconnect; keep the library's own loop from doing it first.
        _ = mosquitto.reconnect_delay_set(handle, 3600, 3600, false)
        if let username = options.username {
            try check(mosquitto.username_pw_set(handle, username, options.password), "MQTT username/password")
        }
        if let will = options.will {
            let rc = will.payload.utf8CString.withUnsafeBufferPointer { buffer in
                mosquitto.will_set(handle, will.topic, Int32(buffer.count - 1), buffer.baseAddress, 1, true)
            }
            try check(rc, "last will on '\(will.topic)'")
        }
        if let tls = options.tls {
            let rc = mosquitto.tls_set(handle, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil)
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                let files = [tls.caFile.map { "ca_file \($0)" }, tls.certFile.map { "cert_file \($0)" },
                             tls.keyFile.map { "key_file \($0)" }].compactMap { $0 }.joined(separator: ", ")
                throw MQTTError(.tls, "TLS set-up rejected (\(files.isEmpty ? "ca path \(tls.caPath ?? "-")" : files)): "
                                + MosquittoLibrary.describe(rc, errno: errno))
            }
            if tls.insecure { _ = mosquitto.tls_insecure_set(handle, true) }
        }

        mosquitto.connect_callback_set(handle) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue().didConnect(rc)
        }
        mosquitto.disconnect_callback_set(handle) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue().didDisconnect(rc)
        }
        mosquitto.publish_v5_callback_set(handle) { _, obj, mid, reason, _ in
            guard let obj else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue().didPublish(mid, reason: reason)
        }
        mosquitto.message_callback_set(handle) { _, obj, message in
            guard let obj, let message else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue().didReceive(message.pointee)
        }
        mosquitto.log_callback_set(handle) { _, obj, level, text in
            guard let obj, let text else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue().libraryLogged(level, String(cString: text))
        }
    }

    // MARK: - Callbacks (libmosquitto's network thread, or the connecting thread for log lines)

    private func didConnect(_ code: Int32) {
        if code == 0 {
            connack.fulfill(.success(()))
        } else {
            let text = MosquittoLibrary.connackText(code, version: options.protocolVersion)
            connack.fulfill(.failure(MQTTError(.refused, "broker \(options.endpoint) refused the connection: \(text) (code \(code))")))
        }
    }

    private func didDisconnect(_ rc: Int32) {
        if rc != 0 {
            // Marks the client as disconnected so the library's loop ends instead of reconnecting
            // by itself; the socket is already closed, so nothing is sent.
            _ = mosquitto.disconnect(handle)
        }
        let (pending, dropReason) = state.withLock { s in
            s.isClosed = true
            let pending = s.pending
            s.pending = [:]
            s.earlyAcks = [:]
            return (pending, s.dropReason)
        }
        let reason = dropReason ?? (rc == 0
            ? MQTTError(.connectionLost, "disconnected from \(options.endpoint)")
            : MQTTError(MosquittoLibrary.kind(rc) == .notConnected ? .connectionLost : MosquittoLibrary.kind(rc),
                        "connection to \(options.endpoint) lost: " + MosquittoLibrary.describe(rc, errno: errno)))
        connack.fulfill(.failure(reason))
        for promise in pending.values { promise.fulfill(.failure(reason)) }
        closed.fulfill(reason)
    }

    private func didPublish(_ mid: Int32, reason: Int32) {
        let waiter: Promise<Result<Void, MQTTError>>? = state.withLock { s in
            if let waiter = s.pending.removeValue(forKey: mid) { return waiter }
            s.earlyAcks[mid] = reason
            return nil
        }
        waiter?.fulfill(Self.ackResult(reason, endpoint: options.endpoint))
    }

    private static func ackResult(_ reason: Int32, endpoint: String) -> Result<Void, MQTTError> {
        // MQTT 5 reason codes below 0x80 are successes (0x10: no subscribers); 3.1.1 always sends 0.
        guard reason >= 0x80 else { return .success(()) }
        return .failure(MQTTError(.rejected, "broker \(endpoint) rejected a publish: "
                                  + MosquittoLibrary.reasonText(reason) + " (reason \(reason))"))
    }

    private func didReceive(_ message: mosquitto_message) {
        let topic = message.topic.map { String(cString: $0) } ?? ""
        var payload: [UInt8] = []
        if let bytes = message.payload, message.payloadlen > 0 {
            payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(message.payloadlen)))
        }
        onMessage(MQTTMessage(topic: topic, payload: payload, retained: message.retain))
    }

    private func libraryLogged(_ level: Int32, _ text: String) {
        guard level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0 else { return }
        state.withLock { $0.lastLibraryError = text }
        log.debug("libmosquitto: " + text, ["mqtt.broker": options.endpoint])
        // A TLS handshake that fails inside the network thread ends that thread without a
        // disconnect callback; this log line is the only sign, so it answers the CONNACK wait.
        if level & MOSQ_LOG_ERR != 0, text.hasPrefix("OpenSSL Error") {
            connack.fulfill(.failure(MQTTError(.tls, "TLS handshake with \(options.endpoint) failed: \(text)")))
        }
    }

    // MARK: - Operations

    /// Connects (DNS, TCP, TLS handshake, CONNECT) on a thread of its own, starts the network
    /// thread, and waits for CONNACK.
    func connect() async -> Result<Void, MQTTError> {
        let options = self.options
        state.withLock { $0.connecting = true }
        let started: Result<Void, MQTTError> = await DedicatedThread.run(onCancel: .failure(MQTTError(.cancelled, "connect cancelled"))) { [self] in
            let rc = mosquitto.connect(handle, options.host, Int32(options.port), Int32(options.keepaliveSeconds))
            let savedErrno = errno
            guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
                var message = "cannot connect to \(options.endpoint): " + MosquittoLibrary.describe(rc, errno: savedErrno)
                if let detail = state.withLock({ $0.lastLibraryError }), MosquittoLibrary.kind(rc) == .tls {
                    message += " (\(detail))"
                }
                return .failure(MQTTError(MosquittoLibrary.kind(rc), message))
            }
            // The loop starts under the lock so that a close() cannot slip in between "not
            // abandoned" and "loop running" and leave a network thread nobody joins. Callbacks of
            // the new thread wait for the lock; nothing here waits for them.
            let loop: Int32? = state.withLock { s in
                s.connecting = false
                guard !s.abandoned else { return nil }
                let rc = mosquitto.loop_start(handle)
                s.loopRunning = rc == Int32(MOSQ_ERR_SUCCESS.rawValue)
                return rc
            }
            guard let loop else {
                _ = mosquitto.disconnect(handle)
                return .failure(MQTTError(.cancelled, "connect cancelled"))
            }
            guard loop == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
                return .failure(MQTTError(.unreachable, "cannot start the MQTT network thread: " + MosquittoLibrary.describe(loop, errno: errno)))
            }
            return .success(())
        }
        if case .failure = started { return started }
        let result = await connack.value(
            timeoutMs: options.connectTimeoutMs,
            onTimeout: .failure(MQTTError(.timeout, "no CONNACK from \(options.endpoint) within \(options.connectTimeoutMs) ms")),
            onCancel: .failure(MQTTError(.cancelled, "connect cancelled")))
        if case let .failure(error) = result, error.kind == .connectionLost || error.kind == .tls,
           let detail = state.withLock({ $0.lastLibraryError }) {
            // A TLS failure during the handshake shows up as a lost connection; say why.
            return .failure(MQTTError(detail.contains("SSL") || detail.contains("TLS") ? .tls : .connectionLost,
                                      error.message + " (\(detail))"))
        }
        return result
    }

    var isOpen: Bool { state.withLock { !$0.isClosed && $0.loopRunning } }

    func subscribe(_ topic: String) -> MQTTError? {
        let rc = mosquitto.subscribe(handle, nil, topic, 1)
        guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
            return MQTTError(MosquittoLibrary.kind(rc), "subscribe to '\(topic)' failed: " + MosquittoLibrary.describe(rc, errno: errno))
        }
        return nil
    }

    /// Publishes with QoS 1 and returns once the broker's PUBACK arrived (or not: timeout, lost
    /// connection, cancellation).
    func publish(topic: String, payload: String, retain: Bool, timeoutMs: Int) async -> Result<Void, MQTTError> {
        await acknowledgement(of: send(topic: topic, payload: payload, retain: retain), timeoutMs: timeoutMs)
    }

    /// A message handed to libmosquitto, its PUBACK still to come.
    enum Sent {
        case awaiting(mid: Int32, Promise<Result<Void, MQTTError>>)
        case settled(Result<Void, MQTTError>)
    }

    /// Hands a QoS 1 message to libmosquitto, which sends messages in the order they were handed
    /// over; `acknowledgement(of:)` waits for its PUBACK.
    func send(topic: String, payload: String, retain: Bool) -> Sent {
        var mid: Int32 = 0
        var text = payload
        let rc = text.withUTF8 { bytes in
            mosquitto.publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, 1, retain)
        }
        guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) else {
            return .settled(.failure(MQTTError(MosquittoLibrary.kind(rc), "publish to '\(topic)' failed: " + MosquittoLibrary.describe(rc, errno: errno))))
        }
        let promise = Promise<Result<Void, MQTTError>>()
        enum Early { case ack(Int32), closed }
        let early: Early? = state.withLock { s in
            if let reason = s.earlyAcks.removeValue(forKey: mid) { return .ack(reason) }
            if s.isClosed { return .closed }
            s.pending[mid] = promise
            return nil
        }
        switch early {
        case let .ack(reason): return .settled(Self.ackResult(reason, endpoint: options.endpoint))
        case .closed: return .settled(.failure(MQTTError(.connectionLost, "connection to \(options.endpoint) closed before PUBACK")))
        case nil: return .awaiting(mid: mid, promise)
        }
    }

    /// The PUBACK of a sent message, or why there is none within `timeoutMs` of this call.
    func acknowledgement(of sent: Sent, timeoutMs: Int) async -> Result<Void, MQTTError> {
        let (mid, promise): (Int32, Promise<Result<Void, MQTTError>>)
        switch sent {
        case let .settled(result): return result
        case let .awaiting(awaitedMid, awaitedPromise): (mid, promise) = (awaitedMid, awaitedPromise)
        }
        let result = await promise.value(
            timeoutMs: timeoutMs,
            onTimeout: .failure(MQTTError(.timeout, "no PUBACK from \(options.endpoint) within \(timeoutMs) ms")),
            onCancel: .failure(MQTTError(.cancelled, "publish cancelled")))
        state.withLock { s in
            if s.pending[mid] === promise { s.pending[mid] = nil }
        }
        return result
    }

    /// Ends the connection from our side (e.g. a PUBACK that never came): the session sees it
    /// closed with `reason` and reconnects; the outbox re-sends what was not acknowledged.
    func drop(_ reason: MQTTError) {
        let pending = state.withLock { s in
            if s.dropReason == nil { s.dropReason = reason }
            s.isClosed = true
            let pending = s.pending
            s.pending = [:]
            return pending
        }
        _ = mosquitto.disconnect(handle)
        // Reported here rather than from the disconnect callback: a network thread that already
        // ended on its own would never call it.
        for promise in pending.values { promise.fulfill(.failure(reason)) }
        closed.fulfill(reason)
    }

    /// Sends DISCONNECT if connected and joins the network thread; after this no callback runs.
    /// Runs to the end even when the calling task is cancelled: the thread keeps this object
    /// alive until the join is done.
    func close() async {
        let connecting = state.withLock { s in
            s.abandoned = true
            return s.connecting
        }
        // The connecting thread sees `abandoned` when mosquitto_connect returns and disconnects.
        guard !connecting else { return }
        await DedicatedThread.run(onCancel: ()) { [self] in
            _ = mosquitto.disconnect(handle)
            let running = state.withLock { s in
                let running = s.loopRunning
                s.loopRunning = false
                return running
            }
            if running { _ = mosquitto.loop_stop(handle, false) }
        }
        // A connection that never got to the network thread has no callback to report it.
        state.withLock { $0.isClosed = true }
        closed.fulfill(MQTTError(.connectionLost, "disconnected from \(options.endpoint)"))
    }
}
