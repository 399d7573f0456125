import MeterCore
import MeterProtocols

/// What runs on a `SerialLineBus`'s thread: one transaction at a time, with retries, per-meter
/// back-off, reconnect back-off, inter-frame silence and a flush after every failed attempt.
public final class SerialLineBusWorker: BusWorker {
    private let config: BusConfig
    private let status: BusStatus
    private var channel: (any ByteChannel)?
    private var ledger: RetryLedger<String>
    private var connectBackoff: DeviceBackoff
    private var lastConnectError = ""
    private var silence: InterFrameSilence
    /// Once bytes flow, the reply may take as long as its length needs: each chunk extends the
    /// deadline by this gap (20 characters, at least 50 ms).
    private let interByteGapMs: Int

    init(config: BusConfig, status: BusStatus, interFrameSilenceUs: UInt64) {
        self.config = config
        self.status = status
        silence = InterFrameSilence(microseconds: interFrameSilenceUs)
        ledger = RetryLedger(config: config, status: status, now: MonotonicClock.nowMs, lineDevice: { .address($0) })
        connectBackoff = RetryLedger<String>.connectBackoff(for: config)
        if case let .serial(_, settings, _) = config.transport {
            interByteGapMs = max(50, Int((settings.framing.seconds(forBytes: 20) * 1000).rounded(.up)))
        } else {
            interByteGapMs = 50
        }
    }

    public func close() { channel = nil }

    /// Runs a job's requests in order; the first request's failure fails the job, a later one ends
    /// it with the replies before it.
    public func execute(_ job: SerialTransaction) -> Result<SerialAnswers, SerialBusError> {
        var answers: SerialAnswers
        switch execute(job.first, urgent: job.urgent) {
        case let .success(reply): answers = SerialAnswers(first: reply)
        case let .failure(error): return .failure(error)
        }
        var last = answers.first
        for (offset, request) in job.rest.enumerated() {
            guard job.proceeds(offset, last) else { break }
            switch execute(request, urgent: job.urgent) {
            case let .success(reply):
                answers.more.append(reply)
                last = reply
            case let .failure(error):
                answers.failure = error
                return .success(answers)
            }
        }
        return .success(answers)
    }

    private func execute(_ request: SerialRequest, urgent: Bool) -> Result<[UInt8], SerialBusError> {
        let device = request.device
        let start = MonotonicClock.nowMs()
        if !urgent, let reason = ledger.skipReason(device, at: start) {
            return .failure(request.error(.backoff, bus: config.id, message: reason))
        }
        var portOpened = false
        return ledger.transact(device, attempt: { () -> Result<[UInt8], SerialBusError> in
            let port: any ByteChannel
            switch connect(request) {
            case let .success(open): port = open
            case let .failure(error):
                portOpened = false
                return .failure(error)
            }
            portOpened = true
            silence.keep()
            let result = attempt(request, on: port)
            silence.frameEnded()
            if case let .failure(error) = result, error.kind.isBadReply {
                // Late or partial bytes of this attempt must not be read as the next reply.
                port.discardInput()
            }
            return result
        }, connectionBroke: { _ in
            // An open port that broke (adapter unplugged, peer closed the socket) is reopened.
            if portOpened { channel = nil }
            return portOpened
        })
    }

    private func connect(_ request: SerialRequest) -> Result<any ByteChannel, SerialBusError> {
        if let channel { return .success(channel) }
        let now = MonotonicClock.nowMs()
        if connectBackoff.shouldSkip(now: now) {
            return .failure(request.error(.connection, bus: config.id,
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
            status.update {
                $0.connects += 1
                if !notes.isEmpty { $0.notes = Array(($0.notes + notes).suffix(5)) }
            }
            return .success(opened)
        } catch {
            connectBackoff.recordFailure(now: MonotonicClock.nowMs())
            lastConnectError = error.description
            return .failure(request.error(.connection, bus: config.id, message: error.description))
        }
    }

    /// One write and the wait for its reply.
    private func attempt(_ request: SerialRequest, on port: any ByteChannel) -> Result<[UInt8], SerialBusError> {
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
                    return .failure(request.error(.timeout, bus: config.id, message: detail))
                }
                let chunk = try port.read(maxBytes: 512, timeoutMs: Int(deadline - now))
                guard !chunk.isEmpty else { continue }
                received += chunk.count
                deadline = max(deadline, MonotonicClock.nowMs() + UInt64(interByteGapMs))
                switch scanner.scan(chunk) {
                case .needMore: continue
                case let .reply(reply): return .success(reply)
                case let .checksumError(detail): return .failure(request.error(.checksumError, bus: config.id, message: detail))
                case let .invalid(detail): return .failure(request.error(.invalidResponse, bus: config.id, message: detail))
                case let .meterError(bits, detail): return .failure(request.error(.meterError(bits), bus: config.id, message: detail))
                }
            }
        } catch {
            return .failure(request.error(.connection, bus: config.id, message: error.description))
        }
    }
}
