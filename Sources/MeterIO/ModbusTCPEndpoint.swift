import MeterCore
import MeterProtocols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One Modbus TCP endpoint as `ModbusTCPLoop` drives it: a non-blocking socket and a state machine
/// that carries the bus's queued transactions one at a time — idle → connecting → sending →
/// awaiting the reply → done or tried again. The same policy as a bus thread's worker: retries,
/// per-device and reconnect back-off through `RetryLedger`, the same errors and counters.
///
/// Confined to the loop thread: created there, and touched by nothing else (the bus shares only
/// the queue, the counters and the `finished` promise with it).
final class ModbusTCPEndpoint {
    let config: BusConfig
    private let queue: JobQueue<ModbusTransaction>
    private let status: BusStatus
    private let finished: Promise<Void>
    private let host: String
    private let port: Int
    private let timeoutMs: UInt64
    private var ledger: RetryLedger<UnitID>
    private var connectBackoff: DeviceBackoff
    private var lastConnectError = ""

    private enum Phase {
        case idle
        case connecting(deadlineMs: UInt64)
        /// The request is partly written (the socket's buffer was full).
        case sending(deadlineMs: UInt64)
        case awaiting(deadlineMs: UInt64)
    }

    /// The transaction on the line and its attempts so far.
    private struct InFlight {
        var job: ModbusTransaction
        var request: ModbusTCP.Request
        var attempts: RetryAttempts
        var startUs: UInt64
        /// The connection was open when the current attempt began (else it opened it).
        var wasConnected: Bool
    }

    private(set) var fd: Int32 = -1
    private var phase = Phase.idle
    private var inFlight: InFlight?
    private var transactionID: UInt16 = 0
    /// Reused for every request and reply: a transaction allocates only the values it returns.
    private var writeBuffer: [UInt8] = []
    private var written = 0
    private var readBuffer = [UInt8](repeating: 0, count: 2 * ModbusTCP.maxADU)
    private var decoder = ModbusTCPReplyDecoder()
    /// After a command's transaction, only urgent jobs are taken until then (`Bus.commandGraceMs`).
    private var graceUntilMs: UInt64 = 0
    /// The queue is closed and drained, the socket closed, `finished` fulfilled.
    private(set) var isFinished = false

    init(config: BusConfig, queue: JobQueue<ModbusTransaction>, status: BusStatus, finished: Promise<Void>) {
        self.config = config
        self.queue = queue
        self.status = status
        self.finished = finished
        if case let .tcp(host, port) = config.transport {
            self.host = host
            self.port = port
        } else {
            preconditionFailure("ModbusTCPEndpoint for a serial bus \(config.id)")
        }
        timeoutMs = UInt64(max(1, config.timeoutMs))
        ledger = RetryLedger(config: config, status: status, now: MonotonicClock.nowMs, lineDevice: { .unit($0) })
        connectBackoff = RetryLedger<UnitID>.connectBackoff(for: config)
        writeBuffer.reserveCapacity(ModbusTCP.maxADU)
    }

    private var endpoint: String { "\(host):\(port)" }

    // MARK: - What the loop asks

    /// The poll(2) events to wait for, 0 when the socket is closed.
    var events: Int16 {
        guard fd >= 0 else { return 0 }
        switch phase {
        case .connecting, .sending: return Int16(POLLOUT)
        // Idle, a connection is watched too: a server hanging up is noticed before the next request.
        case .idle, .awaiting: return Int16(POLLIN)
        }
    }

    /// When `advance` has something to do without any event: a deadline, or the end of a grace.
    var deadlineMs: UInt64? {
        switch phase {
        case let .connecting(deadline), let .sending(deadline), let .awaiting(deadline): deadline
        case .idle: graceUntilMs > 0 ? graceUntilMs : nil
        }
    }

    /// Ends what has timed out, then takes queued jobs while the endpoint is idle; once the queue
    /// is closed and nothing is in flight, closes the socket and fulfils `finished`.
    func advance(nowMs now: UInt64) {
        switch phase {
        case let .connecting(deadline) where now >= deadline:
            closeSocket()
            connectFailed(ETIMEDOUT, now: now)
        case let .sending(deadline) where now >= deadline, let .awaiting(deadline) where now >= deadline:
            if case .sending = phase { closeSocket() } // half a request on the wire: the stream is lost
            attemptEnded(.failure(error(.timeout, ModbusErrno.message(ETIMEDOUT))), now: now)
        default:
            break
        }
        while case .idle = phase, !isFinished {
            if graceUntilMs > 0 && now >= graceUntilMs { graceUntilMs = 0 }
            switch queue.take(urgentOnly: graceUntilMs > 0) {
            case let .job(job): start(job, now: now)
            case .empty: return
            case .closed:
                closeSocket()
                isFinished = true
                finished.fulfill(())
            }
        }
    }

    /// poll(2) reported `revents` on the socket.
    func handle(_ revents: Int16, nowMs now: UInt64) {
        guard fd >= 0, revents != 0 else { return }
        switch phase {
        case .connecting:
            let code = NonBlockingTCP.connectResult(fd)
            guard code == 0 else {
                closeSocket()
                connectFailed(code, now: now)
                return
            }
            connected(now: now)
        case .sending:
            flush(now: now)
        case .idle, .awaiting:
            receive(now: now)
        }
    }

    /// The loop cannot run (no thread): fails what is queued.
    func abandon(reason: String) {
        for job in queue.close(reason: reason) {
            job.continuation.resume(returning: .failure(job.refused(.closed(reason), bus: config.id)))
        }
        closeSocket()
        isFinished = true
        finished.fulfill(())
    }

    // MARK: - One transaction

    private func start(_ job: ModbusTransaction, now: UInt64) {
        let startUs = MonotonicClock.nowUs()
        if !job.urgent, let reason = ledger.skipReason(job.unit, at: now) {
            complete(job, .failure(job.error(.backoff, bus: config.id, message: reason)), startUs: startUs, now: now)
            return
        }
        if fd < 0, connectBackoff.shouldSkip(now: now) {
            let message = "\(lastConnectError); next attempt in \(connectBackoff.remainingMs(now: now)) ms"
            status.update { $0.connectionErrors += 1 }
            complete(job, .failure(job.error(.connection, bus: config.id, message: message)), startUs: startUs, now: now)
            return
        }
        inFlight = InFlight(job: job, request: job.operation.tcpRequest, attempts: ledger.begin(job.unit),
                            startUs: startUs, wasConnected: false)
        startAttempt(now: now)
    }

    private func startAttempt(now: UInt64) {
        inFlight?.wasConnected = fd >= 0
        guard fd < 0 else {
            send(now: now)
            return
        }
        let address: NonBlockingTCP.Address
        switch NonBlockingTCP.resolve(host: host, port: port) {
        case let .success(found): address = found
        case let .failure(failure):
            connectFailed(message: "cannot resolve \(endpoint): \(failure.message)", now: now)
            return
        }
        switch NonBlockingTCP.startConnect(address) {
        case let .success(.connected(socket)):
            fd = socket
            connected(now: now)
        case let .success(.inProgress(socket)):
            fd = socket
            phase = .connecting(deadlineMs: now + timeoutMs)
        case let .failure(failure):
            connectFailed(failure.code, now: now)
        }
    }

    private func connected(now: UInt64) {
        NonBlockingTCP.setNoDelay(fd)
        connectBackoff.recordSuccess()
        status.update { $0.connects += 1 }
        decoder.reset()
        send(now: now)
    }

    private func connectFailed(_ code: Int32, now: UInt64) {
        connectFailed(message: "cannot open \(endpoint): \(ModbusErrno.message(code))", now: now)
    }

    private func connectFailed(message: String, now: UInt64) {
        attemptEnded(.failure(error(.connection, message)), now: now)
    }

    private func send(now: UInt64) {
        guard let inFlight else { return }
        transactionID &+= 1
        ModbusTCP.encode(inFlight.request, transaction: transactionID, unit: inFlight.job.unit.rawValue, into: &writeBuffer)
        decoder.expect(transaction: transactionID, unit: inFlight.job.unit.rawValue, request: inFlight.request)
        written = 0
        phase = .sending(deadlineMs: now + timeoutMs)
        flush(now: now)
    }

    /// Writes what the socket takes of the request; once all is out, waits for the reply.
    private func flush(now: UInt64) {
        guard case let .sending(deadline) = phase else { return }
        while written < writeBuffer.count {
            let result = writeBuffer.withUnsafeBytes { NonBlockingTCP.sendSome(fd, UnsafeRawBufferPointer(rebasing: $0[written...])) }
            switch result {
            case let .bytes(n): written += n
            case .wouldBlock: return
            case .closed: return broke(ECONNRESET, now: now)
            case let .failed(code): return broke(code, now: now)
            }
        }
        phase = .awaiting(deadlineMs: deadline)
    }

    /// Reads what has arrived until the reply is complete or the socket is empty; bytes while idle
    /// are stale (a late reply) and dropped.
    private func receive(now: UInt64) {
        while true {
            let result = readBuffer.withUnsafeMutableBytes { NonBlockingTCP.receiveSome(fd, into: $0) }
            switch result {
            case let .bytes(n):
                guard case .awaiting = phase else {
                    decoder.reset()
                    continue
                }
                decoder.append(readBuffer[0..<n])
                // A whole reply needs no further read (and its EAGAIN) before it is handed over.
                if decodeReply(now: now) { return }
            case .wouldBlock:
                return
            case .closed:
                return broke(ECONNRESET, now: now)
            case let .failed(code):
                return broke(code, now: now)
            }
        }
    }

    /// True when the attempt ended (with a reply, or a reply that makes no sense).
    private func decodeReply(now: UInt64) -> Bool {
        do throws(ModbusTCPDecodeError) {
            switch try decoder.decode() {
            case nil: return false
            case let .values(values)?: attemptEnded(.success(values), now: now)
            case let .exception(code)?:
                attemptEnded(.failure(error(.exception(code), ModbusErrno.message(code))), now: now)
            }
        } catch {
            attemptEnded(.failure(self.error(.invalidResponse, error.description)), now: now)
        }
        return true
    }

    /// The connection failed under a request, or hung up while idle (then the next request opens
    /// a new one, as libmodbus would after finding it broken).
    private func broke(_ code: Int32, now: UInt64) {
        closeSocket()
        guard inFlight != nil else { return }
        attemptEnded(.failure(error(.connection, ModbusErrno.message(code))), now: now)
    }

    /// One attempt's outcome: `RetryLedger` decides whether to try again.
    private func attemptEnded(_ result: Result<[UInt16], ModbusError>, now: UInt64) {
        guard var current = inFlight else { return }
        phase = .idle
        let wasConnected = current.wasConnected
        let step = ledger.next(current.job.unit, after: result, attempts: &current.attempts) { error in
            if !wasConnected {
                connectBackoff.recordFailure(now: now)
                lastConnectError = error.message
            }
            return wasConnected
        }
        inFlight = current
        if step == .again {
            startAttempt(now: now)
        } else {
            inFlight = nil
            complete(current.job, result, startUs: current.startUs, now: now)
        }
    }

    private func complete(_ job: ModbusTransaction, _ result: Result<[UInt16], ModbusError>, startUs: UInt64, now: UInt64) {
        let endUs = MonotonicClock.nowUs()
        status.addBusy(endUs &- startUs, endMs: endUs / 1000)
        phase = .idle
        graceUntilMs = job.urgent ? now + UInt64(ModbusBus.commandGraceMs) : 0
        job.continuation.resume(returning: result)
    }

    private func error(_ kind: BusFailure, _ message: String) -> ModbusError {
        guard let job = inFlight?.job else { return ModbusError(kind, bus: config.id, message: message) }
        return job.error(kind, bus: config.id, message: message)
    }

    private func closeSocket() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        decoder.reset()
    }
}

extension ModbusTransaction.Operation {
    /// The request as the TCP codec builds it.
    var tcpRequest: ModbusTCP.Request {
        switch self {
        case let .read(table, address, count): .read(function: table.readFunction, address: address, count: UInt16(count))
        case let .writeRegisters(address, values): .writeRegisters(address: address, values: values)
        case let .writeRegister(address, value): .writeRegister(address: address, value: value)
        case let .writeCoil(address, value): .writeCoil(address: address, value: value)
        }
    }
}
