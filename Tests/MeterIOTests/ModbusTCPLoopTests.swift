import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import MeterTestSupport
import Synchronization
import Testing

/// Modbus TCP buses on the one shared I/O thread, against servers built on libmodbus's server side.
/// Serialized: the thread counts would see another test's buses.
@Suite(.serialized) struct ModbusTCPLoopTests {
    /// Threads of this process right now.
    static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    /// Lets Swift's cooperative pool start all its threads, so they are not counted as the loop's.
    static func warmPool() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let end = Date().addingTimeInterval(0.02)
                    while Date() < end {}
                }
            }
        }
    }

    @Test func twentyEndpointsShareOneThreadAndEachCallerGetsItsOwnData() async throws {
        var servers: [TestModbusServer] = []
        for i in 0..<20 {
            let holding: [UInt16: UInt16] = [0: UInt16(1000 + i), 1: UInt16(i)]
            servers.append(try TestModbusServer(holding: holding, input: [5: UInt16(2000 + i)]))
        }
        for server in servers { try server.start() }
        defer { for server in servers { server.stop() } }
        await Self.warmPool()
        let before = Self.threadCount()

        let buses = servers.enumerated().map { i, server in tcpBus("loop-\(i)", port: server.port, timeoutMs: 2_000) }
        let results = await withTaskGroup(of: (Int, [UInt16], [UInt16])?.self) { group in
            for _ in 0..<5 {
                for (i, bus) in buses.enumerated() {
                    group.addTask {
                        guard let holding = try? await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 2),
                              let input = try? await bus.readRegisters(unit: UnitID(1), table: .input, address: 5, count: 1)
                        else { return nil }
                        return (i, holding, input)
                    }
                }
            }
            var all: [(Int, [UInt16], [UInt16])?] = []
            for await result in group { all.append(result) }
            return all
        }
        let during = Self.threadCount()

        #expect(results.count == 100)
        for result in results {
            guard let (i, holding, input) = result else {
                Issue.record("a read failed")
                continue
            }
            #expect(holding == [UInt16(1000 + i), UInt16(i)])
            #expect(input == [UInt16(2000 + i)])
        }
        for bus in buses {
            #expect(bus.statistics.successes == 10)
            #expect(bus.statistics.connects == 1)
        }
        // One I/O thread for the twenty endpoints (none more if another test left it running).
        #expect(during - before <= 1, "\(before) threads before, \(during) with 20 TCP buses")

        for bus in buses { bus.close() }
        for bus in buses { await bus.closed() }
        // With no endpoint left the thread ends.
        #expect(await eventually { Self.threadCount() <= before }, "\(Self.threadCount()) threads after closing, \(before) before")
    }

    @Test func aSilentDeviceTimesOutIsRetriedThenBacksOff() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let bus = tcpBus("silent-loop", port: listener.port, timeoutMs: 150, retries: 1)
        defer { bus.close() }

        let start = Date()
        do {
            _ = try await bus.readRegisters(unit: UnitID(4), table: .holding, address: 10, count: 2)
            Issue.record("a silent device answered")
        } catch {
            #expect(error.kind == .timeout)
            #expect(error.description == "bus silent-loop unit 4 function 0x03 register 10: timeout (Connection timed out)")
        }
        // Two attempts of 150 ms each.
        #expect(Date().timeIntervalSince(start) >= 0.29)
        var stats = bus.statistics
        #expect(stats.transactions == 1)
        #expect(stats.timeouts == 2)
        #expect(stats.retries == 1)
        #expect(stats.connects == 1)

        // Three transactions without a reply put the device in back-off; the probe after that gets
        // no retries, and routine polls are refused at once meanwhile.
        for _ in 0..<2 {
            await #expect(throws: ModbusError.self) { try await bus.readRegisters(unit: UnitID(4), table: .holding, address: 10, count: 2) }
        }
        do {
            _ = try await bus.readRegisters(unit: UnitID(4), table: .holding, address: 10, count: 2)
            Issue.record("a device in back-off was asked")
        } catch {
            #expect(error.kind == .backoff)
            #expect(error.message.hasPrefix("no reply to the last 3 requests; next try in"))
        }
        stats = bus.statistics
        #expect(stats.transactions == 3)
        #expect(stats.timeouts == 6)
        #expect(stats.backoffSkips == 1)
        let device = bus.statisticsWithDevices.devices[.unit(UnitID(4))]
        #expect(device?.consecutiveFailures == 3)
        #expect(device?.backoffSkips == 1)

        // A command is tried even so: one probe, no retry.
        let command = await BusPriority.command { () async -> BusFailure? in
            do {
                _ = try await bus.readRegisters(unit: UnitID(4), table: .holding, address: 10, count: 2)
                return nil
            } catch {
                return (error as? ModbusError)?.kind
            }
        }
        #expect(command == .timeout)
        #expect(bus.statistics.timeouts == 7)
    }

    @Test func refusedConnectionBacksOffWithItsReason() async throws {
        let listener = try SilentListener()
        let port = listener.port
        listener.close()
        var config = BusConfig(id: BusID("refused"), transport: .tcp(host: "127.0.0.1", port: Int(port)), timeoutMs: 500)
        config.reconnectInitialMs = 600_000
        let bus = ModbusBus(config: config)
        defer { bus.close() }
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .input, address: 3, count: 1)
            Issue.record("a closed port answered")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.description == "bus refused unit 1 function 0x04 register 3: connection failed (cannot open 127.0.0.1:\(port): Connection refused)")
        }
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .input, address: 3, count: 1)
            Issue.record("a closed port answered")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.message.hasPrefix("cannot open 127.0.0.1:\(port): Connection refused; next attempt in "))
        }
        let stats = bus.statistics
        #expect(stats.transactions == 1)
        #expect(stats.connectionErrors == 2)
        #expect(stats.connects == 0)
        #expect(stats.lastError?.contains("Connection refused") == true)
    }

    @Test func exceptionReplyMeansTheDeviceIsAlive() async throws {
        let server = try TestModbusServer(holding: [0: 1])
        try server.start()
        defer { server.stop() }
        let bus = tcpBus("exception-loop", port: server.port, retries: 2)
        defer { bus.close() }
        do {
            _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 150, count: 1)
            Issue.record("an unmapped register answered")
        } catch {
            #expect(error.kind == .exception(.illegalDataAddress))
            #expect(error.description == "bus exception-loop unit 1 function 0x03 register 150: Modbus exception 2 (illegal data address) (Illegal data address)")
        }
        let stats = bus.statistics
        #expect(stats.exceptions == 1)
        #expect(stats.retries == 0)
        #expect(stats.timeouts == 0)
        // Writes go through too, and read back.
        try await bus.writeRegisters(unit: UnitID(1), address: 20, values: [7, 8])
        try await bus.writeRegister(unit: UnitID(1), address: 22, value: 9)
        try await bus.writeCoil(unit: UnitID(1), address: 3, value: true)
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 20, count: 3) == [7, 8, 9])
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .coil, address: 2, count: 3) == [0, 1, 0])
        #expect(server.coil(3))
    }

    @Test func aCommandJumpsTheQueue() async throws {
        // Unit 9 never answers: its read holds the endpoint while the others queue up.
        let server = try TestModbusServer(holding: [0: 11, 1: 22], silentUnits: [9])
        try server.start()
        defer { server.stop() }
        let bus = tcpBus("command-loop", port: server.port, timeoutMs: 400, queueDepth: 8)
        defer { bus.close() }
        let order = Completions()

        let blocker = Task { _ = try? await bus.readRegisters(unit: UnitID(9), table: .holding, address: 0, count: 1) }
        #expect(await eventually { bus.statistics.transactions == 1 })
        let polls = (0..<3).map { i in
            Task {
                _ = try? await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1)
                order.add("poll \(i)")
            }
        }
        #expect(await eventually { bus.statistics.queued == 3 })
        let command = Task {
            await BusPriority.command {
                _ = try? await bus.writeRegister(unit: UnitID(1), address: 1, value: 33)
                order.add("command")
            }
        }
        await command.value
        for poll in polls { await poll.value }
        await blocker.value
        #expect(order.names.first == "command")
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 1, count: 1) == [33])
    }

    @Test func closeFailsQueuedJobsAndClosesTheConnection() async throws {
        let server = try TestModbusServer(holding: [0: 5], silentUnits: [9])
        try server.start()
        defer { server.stop() }
        let bus = tcpBus("close-loop", port: server.port, timeoutMs: 300, queueDepth: 4)
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) == [5])

        let inFlight = Task { try await bus.readRegisters(unit: UnitID(9), table: .holding, address: 0, count: 1) }
        #expect(await eventually { bus.statistics.transactions == 2 })
        let queued = (0..<2).map { _ in Task { try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) } }
        #expect(await eventually { bus.statistics.queued == 2 })
        bus.close()
        for task in queued { #expect(failureKind(await task.result) == .closed) }
        #expect(failureKind(await inFlight.result) == .timeout)
        await bus.closed()

        // The server serves one connection at a time: a new bus gets through only because the
        // closed one let go of its socket.
        let next = tcpBus("close-loop-2", port: server.port, timeoutMs: 1_000)
        defer { next.close() }
        #expect(try await next.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) == [5])
        #expect(server.acceptedConnections == 2)
    }

    @Test func aGarbledReplyIsRetriedAndALateOneSkipped() async throws {
        // First request: an answer that is no Modbus at all. Its retry: the late reply of the
        // first request, then the right one, in one segment.
        let peer = try ScriptedPeer { request, index in
            let tid = Array(request[0..<2])
            if index == 0 { return Array("HTTP/1.1 400 Bad Request\r\n".utf8) }
            let late: [UInt8] = [tid[0], tid[1] &- 1, 0, 0, 0, 5, 1, 3, 2, 0x00, 0x01]
            return late + [tid[0], tid[1], 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34]
        }
        defer { peer.close() }
        let bus = tcpBus("garbled-loop", port: peer.port, timeoutMs: 1_000, retries: 1)
        defer { bus.close() }
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 1) == [0x1234])
        let stats = bus.statistics
        #expect(stats.crcErrors == 1)
        #expect(stats.retries == 1)
        #expect(stats.successes == 1)
        #expect(stats.timeouts == 0)
        #expect(stats.lastError?.contains("invalid response (MBAP protocol id") == true)
    }

    @Test func aHostNameIsResolved() async throws {
        let server = try TestModbusServer(input: [1: 77])
        try server.start()
        defer { server.stop() }
        let bus = ModbusBus(config: BusConfig(id: BusID("named"), transport: .tcp(host: "localhost", port: Int(server.port)), timeoutMs: 1_000))
        defer { bus.close() }
        #expect(try await bus.readRegisters(unit: UnitID(1), table: .input, address: 1, count: 1) == [77])
    }
}

/// The order in which transactions finished.
final class Completions: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ name: String) { list.withLock { $0.append(name) } }
    var names: [String] { list.withLock { $0 } }
}

struct PeerError: Error {}

/// A TCP peer that answers each request (read with one recv) with what `reply` makes of it, on a
/// thread of its own; one connection.
final class ScriptedPeer: Sendable {
    let port: UInt16
    private let listener: Int32

    init(reply: @escaping @Sendable (_ request: [UInt8], _ index: Int) -> [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 1) == 0 else { throw PeerError() }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        try DedicatedThread {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { Foundation.close(client) }
            var buffer = [UInt8](repeating: 0, count: 300)
            var index = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return }
                let answer = reply(Array(buffer[0..<n]), index)
                index += 1
                _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Foundation.close(listener)
    }
}
