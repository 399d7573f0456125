import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization
import Testing

/// A hand-written RTU responder on the master side of a pty, so the RTU path (libmodbus opening a
/// "serial port", CRC checks, retries, RS-485 mode on a port that cannot do it) runs for real.
/// Unit 1 answers read-holding requests with register n = 100 + n, unit 2 answers with a broken CRC,
/// every other unit is silent.
final class RTUResponder: Sendable {
    let pty: PseudoTerminal
    private let state = Mutex(State())
    private let thread = Mutex<DedicatedThread?>(nil)

    private struct State {
        var running = true
        var seen: [[UInt8]] = []
    }

    init() throws {
        pty = try PseudoTerminal()
        let serving = try DedicatedThread { [self] in serve() }
        thread.withLock { $0 = serving }
    }

    var requests: [[UInt8]] { state.withLock { $0.seen } }

    func stop() {
        state.withLock { $0.running = false }
        thread.withLock { $0 }?.join(timeoutMs: 3000)
    }

    private var isRunning: Bool { state.withLock { $0.running } }

    private func serve() {
        var buffer: [UInt8] = []
        while isRunning {
            var pfd = pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 20) > 0 else { continue }
            guard let bytes = try? pty.readAvailable(), !bytes.isEmpty else { continue }
            buffer += bytes
            // Every request this responder handles is 8 bytes: unit, function 3, address, count, CRC.
            while buffer.count >= 8 {
                let frame = Array(buffer.prefix(8))
                buffer.removeFirst(8)
                state.withLock { $0.seen.append(frame) }
                guard ModbusCRC.isValid(frame), frame[1] == 0x03 else { continue }
                let start = Int(frame[2]) << 8 | Int(frame[3])
                let count = Int(frame[4]) << 8 | Int(frame[5])
                var reply: [UInt8] = [frame[0], 0x03, UInt8(count * 2)]
                for n in start..<(start + count) {
                    let value = UInt16(truncatingIfNeeded: 100 + n)
                    reply += [UInt8(value >> 8), UInt8(value & 0xFF)]
                }
                switch frame[0] {
                case 1:
                    try? pty.write(ModbusCRC.appending(to: reply))
                case 2:
                    var broken = ModbusCRC.appending(to: reply)
                    broken[broken.count - 1] ^= 0xFF
                    try? pty.write(broken)
                default:
                    break
                }
            }
        }
    }
}

@Suite struct RTUBusTests {
    func rtuBus(_ responder: RTUResponder, rs485: Bool = false, retries: Int = 1) -> ModbusBus {
        ModbusBus(config: BusConfig(id: BusID("rtu-test"),
                                    transport: .serial(port: responder.pty.slavePath, settings: SerialSettings(baud: 19_200), rs485: rs485),
                                    timeoutMs: 200, retries: retries))
    }

    @Test func readsOverAPseudoTerminal() async throws {
        let responder = try RTUResponder()
        defer { responder.stop() }
        let bus = rtuBus(responder, rs485: true)
        defer { bus.close() }

        let words = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 10)
        #expect(words == (100..<110).map { UInt16($0) })
        // The request on the wire is the one captured from mbpoll in PROTOCOLS.md.
        #expect(responder.requests.first == [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD])

        // A pty cannot switch to RS-485 mode: the bus says so and carries on.
        let stats = bus.statistics
        #expect(stats.connects == 1)
        #expect(stats.notes.contains { $0.contains("RS-485") && $0.contains(responder.pty.slavePath) })
    }

    @Test func badCRCIsRetriedThenReported() async throws {
        let responder = try RTUResponder()
        defer { responder.stop() }
        let bus = rtuBus(responder, retries: 2)
        defer { bus.close() }
        do {
            _ = try await bus.readRegisters(unit: UnitID(2), table: .holding, address: 4, count: 2)
            Issue.record("a reply with a broken CRC was taken")
        } catch {
            #expect(error.kind == .checksumError)
            #expect(error.quality == .crcError)
        }
        #expect(bus.statistics.crcErrors == 3)
        #expect(bus.statistics.retries == 2)
        #expect(responder.requests.count == 3)

        // The line still works for a healthy meter afterwards.
        let words = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 4, count: 2)
        #expect(words == [104, 105])
    }

    /// Issue 13 (`meteragent status`): each device's share of the line's counters, the back-off
    /// of the silent one, and how busy the line was.
    @Test func countsPerDeviceWithBackoffAndTheLinesBusyTime() async throws {
        let responder = try RTUResponder()
        defer { responder.stop() }
        let bus = rtuBus(responder, retries: 0)
        defer { bus.close() }
        _ = try await bus.readRegisters(unit: UnitID(1), table: .holding, address: 0, count: 2)
        _ = try? await bus.readRegisters(unit: UnitID(2), table: .holding, address: 0, count: 2)
        // Three timeouts put unit 3 in back-off (threshold 3); the fourth request is skipped.
        for _ in 0..<4 { _ = try? await bus.readRegisters(unit: UnitID(3), table: .holding, address: 0, count: 2) }

        let (line, devices) = bus.statisticsWithDevices
        let good = try #require(devices[.unit(UnitID(1))])
        #expect(good.transactions == 1 && good.successes == 1 && good.timeouts == 0 && good.backoffMs == 0)
        let garbled = try #require(devices[.unit(UnitID(2))])
        #expect(garbled.crcErrors == 1 && garbled.successes == 0 && garbled.backoffMs == 0, "a garbled reply shows a live device")
        let silent = try #require(devices[.unit(UnitID(3))])
        #expect(silent.transactions == 3 && silent.timeouts == 3 && silent.backoffSkips == 1, "\(silent)")
        #expect(silent.consecutiveFailures == 3 && silent.backoffMs == 2_000, "\(silent)")
        #expect((1...2_000).contains(silent.nextProbeInMs), "\(silent)")
        #expect(line.successes == 1 && line.crcErrors == 1 && line.timeouts == 3 && line.backoffSkips == 1)
        // Three 200 ms timeouts (unit 2's reply fails its CRC at once) in well under two seconds.
        #expect(line.utilisation > 0.3 && line.utilisation <= 1, "\(line.utilisation) over \(line.utilisationWindowMs) ms")
        #expect(line.utilisationWindowMs > 0)

        // One answer forgets the back-off.
        try await Task.sleep(for: .milliseconds(2_100))
        _ = try? await bus.readRegisters(unit: UnitID(3), table: .holding, address: 0, count: 2)
        #expect(bus.statisticsWithDevices.devices[.unit(UnitID(3))]?.backoffMs == 4_000, "a failed probe doubles the interval")
    }
}
