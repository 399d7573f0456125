import MeterCore
import MeterProtocols

/// What runs on a bus's thread: takes transactions off the queue one at a time and carries them
/// out with retries, per-device back-off, reconnect back-off and RS-485 inter-frame silence.
/// Confined to that thread, so it needs no locks of its own.
final class BusWorker {
    private let config: BusConfig
    private let client: ModbusClient
    private let status: Guarded<BusStatistics>
    private let now: () -> UInt64
    /// Only units that have failed are here, so at most one entry per unit on the bus.
    private var devices: [UnitID: DeviceBackoff] = [:]
    /// Back-off for opening the port: a missing adapter or refused connection is retried after
    /// 0.5 s, 1 s, 2 s … up to 10 s instead of on every transaction.
    private var connectBackoff: DeviceBackoff
    private var lastConnectError = ""
    /// Silence the RTU spec demands between frames (3.5 characters), 0 for TCP.
    private let interFrameSilenceUs: UInt64
    private var lastFrameEndUs: UInt64 = 0

    init(config: BusConfig, status: Guarded<BusStatistics>, now: @escaping () -> UInt64 = MonotonicClock.nowMs) {
        self.config = config
        self.client = ModbusClient(config: config)
        self.status = status
        self.now = now
        connectBackoff = DeviceBackoff(threshold: 1, initialMs: UInt64(config.reconnectInitialMs), maxMs: max(10_000, UInt64(config.reconnectInitialMs)))
        if case let .serial(_, settings, _) = config.transport {
            interFrameSilenceUs = UInt64((settings.framing.interFrameSilence * 1_000_000).rounded(.up))
        } else {
            interFrameSilenceUs = 0
        }
    }

    private func deviceBackoff() -> DeviceBackoff {
        DeviceBackoff(initialMs: UInt64(config.backoffInitialMs), maxMs: UInt64(max(config.backoffInitialMs, config.backoffMaxMs)))
    }

    /// Runs until the bus is closed, then closes the port.
    func run(_ queue: Guarded<TransactionQueue>) {
        while let job = queue.wait(until: { !$0.jobs.isEmpty || $0.closedReason != nil }, then: { state -> Transaction? in
            state.closedReason == nil ? state.jobs.removeFirst() : nil
        }) {
            let result = execute(job)
            job.continuation.resume(returning: result)
        }
        client.close()
    }

    func execute(_ job: Transaction) -> Result<[UInt16], ModbusError> {
        let unit = job.unit
        let start = now()
        if let backoff = devices[unit], backoff.shouldSkip(now: start) {
            let error = job.error(.backoff, bus: config.id,
                                  message: "no reply to the last \(backoff.consecutiveFailures) requests; next try in \(backoff.remainingMs(now: start)) ms")
            status.withLock { $0.backoffSkips += 1 }
            return .failure(error)
        }
        if !client.isConnected, connectBackoff.shouldSkip(now: start) {
            let error = job.error(.connection, bus: config.id,
                                  message: "\(lastConnectError); next attempt in \(connectBackoff.remainingMs(now: start)) ms")
            status.withLock { $0.connectionErrors += 1 }
            return .failure(error)
        }

        // A unit already in back-off gets one probe, not a round of retries that would hold the line.
        var attemptsLeft = devices[unit]?.isBackingOff == true ? 1 : 1 + max(0, config.retries)
        var reopenedBrokenConnection = false
        status.withLock { $0.transactions += 1 }
        while true {
            keepInterFrameSilence()
            let wasConnected = client.isConnected
            let result = perform(job)
            lastFrameEndUs = MonotonicClock.nowUs()
            if !wasConnected, client.isConnected {
                connectBackoff.recordSuccess()
                let notes = client.notes
                status.withLock {
                    $0.connects += 1
                    $0.notes = notes
                }
            }
            let error: ModbusError
            switch result {
            case .success:
                devices[unit] = nil
                status.withLock { $0.successes += 1 }
                return result
            case let .failure(failure):
                error = failure
            }
            status.withLock { $0.lastError = error.description }

            switch error.kind {
            case .timeout, .crcError, .invalidResponse:
                status.withLock {
                    if error.kind == .timeout { $0.timeouts += 1 } else { $0.crcErrors += 1 }
                }
                attemptsLeft -= 1
                if attemptsLeft > 0 {
                    status.withLock { $0.retries += 1 }
                    continue
                }
                // Only silence means a dead device; a garbled reply shows something is there.
                if error.kind == .timeout {
                    devices[unit, default: deviceBackoff()].recordFailure(now: now())
                }
                return result
            case .exception:
                // The device answered, so it is alive.
                devices[unit] = nil
                status.withLock { $0.exceptions += 1 }
                return result
            case .connection:
                if !wasConnected {
                    connectBackoff.recordFailure(now: now())
                    lastConnectError = error.message
                } else if !reopenedBrokenConnection {
                    // An open connection broke (a TCP server dropping an idle client, a USB adapter
                    // re-enumerated): reopen once at once rather than fail a poll for it.
                    reopenedBrokenConnection = true
                    continue
                }
                status.withLock { $0.connectionErrors += 1 }
                return result
            case .queueFull, .backoff, .closed, .invalidRequest:
                return result
            }
        }
    }

    private func perform(_ job: Transaction) -> Result<[UInt16], ModbusError> {
        do throws(ModbusError) {
            switch job.operation {
            case let .read(table, address, count):
                return .success(try client.readRegisters(unit: job.unit, table: table, address: address, count: count))
            case let .writeRegisters(address, values):
                try client.writeRegisters(unit: job.unit, address: address, values: values)
            case let .writeRegister(address, value):
                try client.writeRegister(unit: job.unit, address: address, value: value)
            case let .writeCoil(address, value):
                try client.writeCoil(unit: job.unit, address: address, value: value)
            }
            return .success([])
        } catch {
            return .failure(error)
        }
    }

    /// On a serial line the next request may start only after 3.5 characters of silence.
    private func keepInterFrameSilence() {
        guard interFrameSilenceUs > 0, lastFrameEndUs > 0 else { return }
        let elapsed = MonotonicClock.nowUs() &- lastFrameEndUs
        if elapsed < interFrameSilenceUs {
            BusThread.sleep(microseconds: interFrameSilenceUs - elapsed)
        }
    }
}
