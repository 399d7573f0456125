import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import MeterTestSupport
import Testing

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

/// Against a server built on libmodbus's own server side, code we did not write.
@Suite struct ModbusBusConnectionTests {
    @Test func droppedConnectionIsReopenedWithoutFailingTheRead() async throws {
        let server = try TestModbusServer(holding: [2: 2305, 3: UInt16(bitPattern: -123)])
        try server.start()
        defer { server.stop() }
        let bus = tcpBus("tcp-test", port: server.port, timeoutMs: 1_000, retries: 0)
        defer { bus.close() }
        let first = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 2, count: 2)
        #expect(first == [2305, UInt16(bitPattern: -123)])

        server.dropClient()
        #expect(await eventually { server.acceptedConnections == 1 })
        try await Task.sleep(nanoseconds: 50_000_000)

        let second = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 2, count: 1)
        #expect(second == [2305])
        #expect(server.acceptedConnections == 2)
        #expect(bus.statistics.connects == 2)
        #expect(bus.statistics.connectionErrors == 0)
    }
}

/// The Modbus failure kind of a finished task, nil when it succeeded or failed otherwise.
func failureKind<T>(_ result: Result<T, any Error>) -> BusFailure? {
    if case let .failure(error) = result { return (error as? ModbusError)?.kind }
    return nil
}
