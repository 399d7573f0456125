import MeterCore
import MeterProtocols

/// What runs on a `SerialLineBus`'s thread: one transaction at a time, with retries, per-meter
/// back-off, reconnect back-off, inter-frame silence and a flush after every failed attempt.
/// Confined to that thread, so it needs no locks of its own.
final class SerialLineWorker {
    private let config: BusConfig
    private let status: Guarded<BusStatistics>
    private var channel: (any ByteChannel)?
    private var devices: [String: DeviceBackoff] = [:]
    private var connectBackoff: DeviceBackoff
    private var lastConnectError = ""
    private let interFrameSilenceUs: UInt64
    private var lastFrameEndUs: UInt64 = 0
    /// Once bytes flow, the reply may take as long as its length needs: each chunk extends the
    /// deadline by this gap (20 characters, at least 50 ms).
    private let interByteGapMs: Int

    init(config: BusConfig, status: Guarded<BusStatistics>, interFrameSilenceUs: UInt64) {
        self.config = config
        self.status = status
        self.interFrameSilenceUs = interFrameSilenceUs
        connectBackoff = DeviceBackoff(threshold: 1, initialMs: UInt64(config.reconnectInitialMs),
                                       maxMs: max(10_000, UInt64(config.reconnectInitialMs)))
        if case let .serial(_, settings, _) = config.transport {
            interByteGapMs = max(50, Int((settings.framing.seconds(forBytes: 20) * 1000).rounded(.up)))
        } else {
            interByteGapMs = 50
        }
    }

    func run(_ queue: Guarded<SerialJobQueue>) {
        while let job = queue.wait(until: { !$0.jobs.isEmpty || $0.closedReason != nil }, then: { state -> SerialJob? in
            state.closedReason == nil ? state.jobs.removeFirst() : nil
        }) {
            job.continuation.resume(returning: execute(job))
        }
        channel = nil
    }

    private func deviceBackoff() -> DeviceBackoff {
        DeviceBackoff(initialMs: UInt64(config.backoffInitialMs), maxMs: UInt64(max(config.backoffInitialMs, config.backoffMaxMs)))
    }

    func execute(_ job: SerialJob) -> Result<[UInt8], SerialBusError> {
        let device = job.request.device
        let start = MonotonicClock.nowMs()
        if let backoff = devices[device], backoff.shouldSkip(now: start) {
            status.withLock { $0.backoffSkips += 1 }
            return .failure(job.error(.backoff, bus: config.id,
                                      message: "no reply to the last \(backoff.consecutiveFailures) requests; next try in \(backoff.remainingMs(now: start)) ms"))
        }
        var attemptsLeft = devices[device]?.isBackingOff == true ? 1 : 1 + max(0, config.retries)
        var reopened = false
        status.withLock { $0.transactions += 1 }
        while true {
            let port: any ByteChannel
            switch connect(job) {
            case let .success(open): port = open
            case let .failure(error):
                status.withLock {
                    $0.connectionErrors += 1
                    $0.lastError = error.description
                }
                return .failure(error)
            }
            keepInterFrameSilence()
            let result = attempt(job, on: port)
            lastFrameEndUs = MonotonicClock.nowUs()
            let error: SerialBusError
            switch result {
            case .success:
                devices[device] = nil
                status.withLock { $0.successes += 1 }
                return result
            case let .failure(failure):
                error = failure
            }
            status.withLock { $0.lastError = error.description }
            switch error.kind {
            case .timeout, .checksumError, .invalidResponse:
                // Late or partial bytes of this attempt must not be read as the next reply.
                port.discardInput()
                status.withLock { if error.kind == .timeout { $0.timeouts += 1 } else { $0.crcErrors += 1 } }
                attemptsLeft -= 1
                if attemptsLeft > 0 {
                    status.withLock { $0.retries += 1 }
                    continue
                }
                // Only silence means a dead meter; a garbled reply shows something is there.
                if error.kind == .timeout { devices[device, default: deviceBackoff()].recordFailure(now: MonotonicClock.nowMs()) }
                return result
            case .meterError:
                devices[device] = nil
                status.withLock { $0.exceptions += 1 }
                return result
            case .connection:
                // The port broke (USB adapter unplugged, peer closed the socket): reopen once at once.
                channel = nil
                if !reopened {
                    reopened = true
                    continue
                }
                status.withLock { $0.connectionErrors += 1 }
                return result
            case .queueFull, .backoff, .closed, .invalidRequest:
                return result
            }
        }
    }

    private func connect(_ job: SerialJob) -> Result<any ByteChannel, SerialBusError> {
        if let channel { return .success(channel) }
        let now = MonotonicClock.nowMs()
        if connectBackoff.shouldSkip(now: now) {
            return .failure(job.error(.connection, bus: config.id,
                                      message: "\(lastConnectError); next attempt in \(connectBackoff.remainingMs(now: now)) ms"))
        }
        do throws(SerialPortError) {
            let opened: any ByteChannel = switch config.transport {
            case let .serial(port, settings, rs485): try SerialPort(port: port, settings: settings, rs485: rs485)
            case let .tcp(host, port): try TCPChannel(host: host, port: port, timeoutMs: max(config.timeoutMs, 1000))
            }
            channel = opened
            connectBackoff.recordSuccess()
            let notes = (opened as? SerialPort)?.notes ?? []
            status.withLock {
                $0.connects += 1
                if !notes.isEmpty { $0.notes = Array(($0.notes + notes).suffix(5)) }
            }
            return .success(opened)
        } catch {
            connectBackoff.recordFailure(now: MonotonicClock.nowMs())
            lastConnectError = error.description
            return .failure(job.error(.connection, bus: config.id, message: error.description))
        }
    }

    /// One write and the wait for its reply.
    private func attempt(_ job: SerialJob, on port: any ByteChannel) -> Result<[UInt8], SerialBusError> {
        let request = job.request
        do throws(SerialPortError) {
            // Whatever arrived since the last transaction (a reply later than its timeout, line
            // noise) cannot answer this request: drop it before writing.
            port.discardInput()
            try port.write(request.frame)
            port.drainOutput()
            guard request.expectsReply else { return .success([]) }
            var scanner = request.scanner()
            var deadline = MonotonicClock.nowMs() + UInt64(max(1, config.timeoutMs))
            var received = 0
            while true {
                let now = MonotonicClock.nowMs()
                guard now < deadline else {
                    let detail = received == 0 ? "no reply within \(config.timeoutMs) ms"
                        : "\(received) bytes received but no complete reply within the timeout"
                    return .failure(job.error(.timeout, bus: config.id, message: detail))
                }
                let chunk = try port.read(maxBytes: 512, timeoutMs: Int(deadline - now))
                guard !chunk.isEmpty else { continue }
                received += chunk.count
                deadline = max(deadline, MonotonicClock.nowMs() + UInt64(interByteGapMs))
                switch scanner.scan(chunk) {
                case .needMore: continue
                case let .reply(reply): return .success(reply)
                case let .checksumError(detail): return .failure(job.error(.checksumError, bus: config.id, message: detail))
                case let .invalid(detail): return .failure(job.error(.invalidResponse, bus: config.id, message: detail))
                case let .meterError(bits, detail): return .failure(job.error(.meterError(bits), bus: config.id, message: detail))
                }
            }
        } catch {
            return .failure(job.error(.connection, bus: config.id, message: error.description))
        }
    }

    private func keepInterFrameSilence() {
        guard interFrameSilenceUs > 0, lastFrameEndUs > 0 else { return }
        let elapsed = MonotonicClock.nowUs() &- lastFrameEndUs
        if elapsed < interFrameSilenceUs { BusThread.sleep(microseconds: interFrameSilenceUs - elapsed) }
    }
}
