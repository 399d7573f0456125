import MeterCore
import MeterProtocols

/// What runs on a Modbus RTU line's thread: carries out transactions one at a time with retries,
/// per-device back-off, reconnect back-off and RS-485 inter-frame silence. (Modbus TCP endpoints
/// run on `ModbusTCPLoop` instead, with the same `RetryLedger`.)
public final class ModbusBusWorker: BusWorker {
    private let config: BusConfig
    private let client: ModbusClient
    private let status: BusStatus
    private let now: () -> UInt64
    private var ledger: RetryLedger<UnitID>
    private var connectBackoff: DeviceBackoff
    private var lastConnectError = ""
    /// Silence the RTU spec demands between frames (3.5 characters).
    private var silence: InterFrameSilence

    init(config: BusConfig, status: BusStatus, now: @escaping () -> UInt64 = MonotonicClock.nowMs) {
        self.config = config
        self.client = ModbusClient(config: config)
        self.status = status
        self.now = now
        ledger = RetryLedger(config: config, status: status, now: now, lineDevice: { .unit($0) })
        connectBackoff = RetryLedger<UnitID>.connectBackoff(for: config)
        if case let .serial(_, settings, _) = config.transport {
            silence = InterFrameSilence(microseconds: UInt64((settings.framing.interFrameSilence * 1_000_000).rounded(.up)))
        } else {
            silence = InterFrameSilence(microseconds: 0)
        }
    }

    public func close() { client.close() }

    public func execute(_ job: ModbusTransaction) -> Result<[UInt16], ModbusError> {
        let unit = job.unit
        let start = now()
        if !job.urgent, let reason = ledger.skipReason(unit, at: start) {
            return .failure(job.error(.backoff, bus: config.id, message: reason))
        }
        if !client.isConnected, connectBackoff.shouldSkip(now: start) {
            let error = job.error(.connection, bus: config.id,
                                  message: "\(lastConnectError); next attempt in \(connectBackoff.remainingMs(now: start)) ms")
            status.update { $0.connectionErrors += 1 }
            return .failure(error)
        }
        var wasConnected = client.isConnected
        return ledger.transact(unit, attempt: { () -> Result<[UInt16], ModbusError> in
            silence.keep()
            wasConnected = client.isConnected
            let result = perform(job)
            silence.frameEnded()
            if !wasConnected, client.isConnected {
                connectBackoff.recordSuccess()
                let notes = client.notes
                status.update {
                    $0.connects += 1
                    $0.notes = notes
                }
            }
            return result
        }, connectionBroke: { error in
            if !wasConnected {
                connectBackoff.recordFailure(now: now())
                lastConnectError = error.message
            }
            return wasConnected
        })
    }

    private func perform(_ job: ModbusTransaction) -> Result<[UInt16], ModbusError> {
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
}
