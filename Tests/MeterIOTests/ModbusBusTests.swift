import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import Testing

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(within seconds: Double = 3, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// A bus whose back-off windows outlast any test, so a slow shared machine cannot end one early.
func tcpBus(_ id: String, port: UInt16, timeoutMs: Int = 500, retries: Int = 0, queueDepth: Int = 8) -> ModbusBus {
    var config = BusConfig(id: BusID(id), transport: .tcp(host: "127.0.0.1", port: Int(port)),
                           timeoutMs: timeoutMs, retries: retries, queueDepth: queueDepth)
    config.backoffInitialMs = 600_000
    config.backoffMaxMs = 600_000
    return ModbusBus(config: config)
}

@Suite struct ModbusBusQueueTests {
    @Test func fullQueueRejectsAtOnce() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let bus = tcpBus("silent", port: listener.port, timeoutMs: 10_000, queueDepth: 2)

        // One transaction on the wire (the listener never answers), two waiting: the queue is full.
        let inFlight = Task { try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) }
        #expect(await eventually { bus.statistics.transactions == 1 })
        let waiting = (0..<2).map { _ in
            Task { try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) }
        }
        #expect(await eventually { bus.statistics.queued == 2 })

        do {
            _ = try await bus.readRegisters(unit: UnitID(2), table: .input, address: 7, count: 2)
            Issue.record("a full queue accepted a transaction")
        } catch {
            #expect(error.kind == .queueFull)
            #expect(error.unit == UnitID(2))
            #expect(error.address == 7)
        }
        #expect(bus.statistics.queueFullRejections == 1)

        // Closing fails what is still queued; the transaction on the wire ends with its timeout.
        bus.close()
        for task in waiting {
            #expect(failureKind(await task.result) == .closed)
        }
        #expect(failureKind(await inFlight.result) == .timeout)
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1)
            Issue.record("a closed bus accepted a transaction")
        } catch {
            #expect(error.kind == .closed)
        }
    }

    @Test func invalidRequestsNeverReachTheWire() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let bus = tcpBus("invalid", port: listener.port)
        defer { bus.close() }
        await #expect(throws: ModbusError.self) {
            try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 126)
        }
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 65_535, count: 2)
            Issue.record("a read past 65535 was accepted")
        } catch {
            #expect(error.kind == .invalidRequest)
        }
        #expect(bus.statistics.timeouts == 0)
        #expect(bus.statistics.transactions == 0)
        #expect(bus.statistics.connects == 0)
    }

    @Test func missingPortFailsFastAndBacksOff() async throws {
        var config = BusConfig(id: BusID("ghost"), transport: .serial(port: "/dev/does-not-exist-meteragent", settings: SerialSettings(), rs485: false))
        config.reconnectInitialMs = 600_000
        let bus = ModbusBus(config: config)
        defer { bus.close() }
        for _ in 0..<3 {
            do {
                _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1)
                Issue.record("a missing port answered")
            } catch {
                #expect(error.kind == .connection)
                #expect(error.description.contains("/dev/does-not-exist-meteragent"))
            }
        }
        // The first attempt tried to open the port; the next ones were refused by the reconnect back-off.
        #expect(bus.statistics.connects == 0)
        #expect(bus.statistics.connectionErrors == 3)
        #expect(bus.statistics.transactions == 1)
        #expect(bus.statistics.lastError?.contains("/dev/does-not-exist-meteragent") == true)
    }

    @Test func unpluggedUSBAdapterIsAClearError() async throws {
        let bus = ModbusBus(config: BusConfig(id: BusID("usb"), transport: .serial(port: "usb:dead:beef:NOPE", settings: SerialSettings(), rs485: true)))
        defer { bus.close() }
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1)
            Issue.record("an absent USB adapter answered")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.message.contains("usb:dead:beef:NOPE"))
            #expect(error.message.contains("no such USB serial adapter"))
        }
    }
}

/// The Modbus failure kind of a finished task, nil when it succeeded or failed otherwise.
func failureKind<T>(_ result: Result<T, any Error>) -> ModbusError.Kind? {
    if case let .failure(error) = result { return (error as? ModbusError)?.kind }
    return nil
}
