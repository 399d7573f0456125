import Foundation
import MeterCore
import MeterIO
import MeterTestSupport
import Synchronization
import Testing

/// A toy byte protocol for the bus tests: a request is `[device, n]`, a reply `[0xA5, device, n]`.
/// The scanner skips noise and replies for other devices, like a real meter protocol's.
struct ToyScanner: ReplyScanner {
    let device: UInt8
    var buffer: [UInt8] = []

    mutating func scan(_ bytes: [UInt8]) -> ReplyScan {
        buffer += bytes
        while let start = buffer.firstIndex(where: { $0 == 0xA5 || $0 == 0xEE || $0 == 0xEF }) {
            buffer.removeFirst(start)
            guard buffer.count >= 3 else { return .needMore }
            let frame = Array(buffer.prefix(3))
            buffer.removeFirst(3)
            guard frame[1] == device else { continue }
            switch frame[0] {
            case 0xEE: return .checksumError("bad sum")
            case 0xEF: return .meterError(frame[2], "refused")
            default: return .reply(frame)
            }
        }
        buffer.removeAll()
        return .needMore
    }
}

func toyRequest(_ device: UInt8, _ n: UInt8, broadcast: Bool = false) -> SerialRequest {
    SerialRequest(device: "dev-\(device)", function: 0x11, item: "n \(n)", frame: [device, n], expectsReply: !broadcast,
                  scanner: { ToyScanner(device: device) })
}

/// The far end of a pty: answers requests with a caller's function on its own thread.
final class ToyMeterLine: Sendable {
    let pty: PseudoTerminal
    private let state = Mutex(State())
    private let thread = Mutex<DedicatedThread?>(nil)

    private struct State {
        var received: [[UInt8]] = []
        var running = true
    }

    init(answer: @escaping @Sendable ([UInt8]) -> [UInt8]?) throws {
        pty = try PseudoTerminal()
        let serving = try DedicatedThread { [self] in
            var pending: [UInt8] = []
            while state.withLock({ $0.running }) {
                var pfd = pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 20) > 0, let bytes = try? pty.readAvailable(), !bytes.isEmpty else { continue }
                pending += bytes
                while pending.count >= 2 {
                    let request = Array(pending.prefix(2))
                    pending.removeFirst(2)
                    state.withLock { $0.received.append(request) }
                    if let reply = answer(request) { try? pty.write(reply) }
                }
            }
        }
        thread.withLock { $0 = serving }
    }

    var requests: [[UInt8]] { state.withLock { $0.received } }

    func stop() {
        state.withLock { $0.running = false }
        thread.withLock { $0 }?.join(timeoutMs: 50)
    }

    func bus(timeoutMs: Int = 200, retries: Int = 0, queueDepth: Int = 8, backoffMs: Int = 600_000) -> SerialLineBus {
        var config = BusConfig(id: BusID("toy"), transport: .serial(port: pty.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                               protocolName: .dlt645, timeoutMs: timeoutMs, retries: retries, queueDepth: queueDepth)
        config.backoffInitialMs = backoffMs
        config.backoffMaxMs = backoffMs
        return SerialLineBus(config: config, interFrameSilenceMs: 1)
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct SerialLineBusTests {
    @Test func transactionGetsTheMatchingReplyPastNoiseAndOtherDevices() async throws {
        let line = try ToyMeterLine { r in [0x00, 0x13, 0xA5, r[0] &+ 1, 9] + [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = line.bus()
        defer { bus.close() }
        #expect(try await bus.transact(toyRequest(3, 42)) == [0xA5, 3, 42])
        #expect(try await bus.transact(toyRequest(4, 7)) == [0xA5, 4, 7])
        #expect(line.requests == [[3, 42], [4, 7]])
        #expect(bus.statistics.successes == 2 && bus.statistics.connects == 1)
    }

    @Test func silenceTimesOutRetriesThenBacksOffOnlyThatDevice() async throws {
        let line = try ToyMeterLine { r in r[0] == 9 ? nil : [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 100, retries: 1)
        defer { bus.close() }
        for _ in 0..<3 {
            do {
                _ = try await bus.transact(toyRequest(9, 1))
                Issue.record("a silent device answered")
            } catch {
                #expect(error.kind == .timeout && error.device == "dev-9" && error.quality == .timeout)
                #expect(error.description.contains("bus toy meter dev-9 control 0x11 n 1: timeout"))
            }
        }
        // Three timeouts (threshold) put the device in back-off: refused without touching the line.
        let sent = line.requests.count
        #expect(sent == 6, "three transactions of two attempts each")
        do {
            _ = try await bus.transact(toyRequest(9, 1))
            Issue.record("a device in back-off was asked")
        } catch {
            #expect(error.kind == .backoff && error.quality == .backoff)
        }
        #expect(line.requests.count == sent)
        #expect(bus.statistics.backoffSkips == 1 && bus.statistics.retries == 3)
        #expect(try await bus.transact(toyRequest(2, 5)) == [0xA5, 2, 5])
    }

    @Test func checksumErrorsAreRetriedAndMeterErrorsAreNot() async throws {
        let line = try ToyMeterLine { r in r[1] == 1 ? [0xEE, r[0], 0] : r[1] == 2 ? [0xEF, r[0], 4] : [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = line.bus(retries: 2)
        defer { bus.close() }
        do {
            _ = try await bus.transact(toyRequest(1, 1))
        } catch {
            #expect(error.kind == .checksumError && error.quality == .crcError)
        }
        #expect(line.requests.count == 3, "one try and two retries")
        do {
            _ = try await bus.transact(toyRequest(1, 2))
        } catch {
            #expect(error.kind == .meterError(4) && error.quality == .meterError(4) && error.quality.description == "meter_error(4)")
        }
        #expect(line.requests.count == 4, "an error reply is an answer: no retry")
    }

    @Test func lateReplyOfAFailedAttemptIsFlushedNotTakenForTheNext() async throws {
        // The device answers request 1 after 250 ms, past the 100 ms timeout.
        let line = try ToyMeterLine { r in
            if r[1] == 1 { Thread.sleep(forTimeInterval: 0.25) }
            return [0xA5, r[0], r[1] == 1 ? 1 : r[1]]
        }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 100)
        defer { bus.close() }
        await #expect(throws: SerialBusError.self) { _ = try await bus.transact(toyRequest(1, 1)) }
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await bus.transact(toyRequest(1, 2)) == [0xA5, 1, 2])
    }

    @Test func broadcastDoesNotWaitForAReply() async throws {
        let line = try ToyMeterLine { _ in nil }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 10_000)
        defer { bus.close() }
        let start = Date()
        #expect(try await bus.transact(toyRequest(99, 8, broadcast: true)) == [])
        #expect(Date().timeIntervalSince(start) < 5, "no wait for the 10 s reply timeout")
        #expect(await eventually { line.requests == [[99, 8]] })
    }

    @Test func fullQueueAndClosedBusRefuseAtOnce() async throws {
        let line = try ToyMeterLine { _ in nil }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 3000, queueDepth: 1)
        let first = Task { try await bus.transact(toyRequest(1, 1)) }
        #expect(await eventually { bus.statistics.transactions == 1 })
        let second = Task { try await bus.transact(toyRequest(1, 2)) }
        #expect(await eventually { bus.statistics.queued == 1 })
        do {
            _ = try await bus.transact(toyRequest(2, 3))
            Issue.record("a full queue accepted a transaction")
        } catch {
            #expect(error.kind == .queueFull && error.device == "dev-2")
        }
        bus.close()
        do {
            _ = try await second.value
            Issue.record("a queued transaction ran after close")
        } catch let error as SerialBusError {
            #expect(error.kind == .closed)
        }
        _ = try? await first.value
        await #expect(throws: SerialBusError.self) { _ = try await bus.transact(toyRequest(1, 1)) }
    }

    @Test func rs485OnAPtyOpensWithANote() async throws {
        let line = try ToyMeterLine { r in [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = SerialLineBus(config: BusConfig(id: BusID("rs485"), transport: .serial(port: line.pty.slavePath, settings: SerialSettings(), rs485: true),
                                                  protocolName: .dlt645))
        defer { bus.close() }
        #expect(try await bus.transact(toyRequest(1, 1)) == [0xA5, 1, 1])
        #expect(bus.statistics.notes.contains { $0.contains("does not support RS-485 mode") }, "\(bus.statistics.notes)")
    }

    @Test func missingPortIsAConnectionError() async throws {
        let bus = SerialLineBus(config: BusConfig(id: BusID("gone"), transport: .serial(port: "/dev/nonexistent-tty", settings: SerialSettings(), rs485: false),
                                                  protocolName: .dlt645))
        defer { bus.close() }
        do {
            _ = try await bus.transact(toyRequest(1, 1))
        } catch {
            #expect(error.kind == .connection && error.quality == .busError)
            #expect(error.message.contains("/dev/nonexistent-tty"))
        }
    }

    @Test func tcpTransportCarriesTheSameTransactions() async throws {
        // A one-connection TCP server answering like the toy meter.
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(server, 1)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        try DedicatedThread {
            let client = accept(server, nil, nil)
            guard client >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 2)
            while read(client, &buffer, 2) == 2 {
                let reply: [UInt8] = [0xFE, 0xA5, buffer[0], buffer[1]]
                _ = reply.withUnsafeBytes { write(client, $0.baseAddress, 4) }
            }
            close(client)
        }
        defer { close(server) }
        let bus = SerialLineBus(config: BusConfig(id: BusID("tcp"), transport: .tcp(host: "127.0.0.1", port: port), protocolName: .dlt645, timeoutMs: 500))
        defer { bus.close() }
        #expect(try await bus.transact(toyRequest(5, 6)) == [0xA5, 5, 6])
        #expect(try await bus.transact(toyRequest(5, 7)) == [0xA5, 5, 7])
    }
}
