import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// A simulated RS-485 line of DL/T 645 meters on a pty: several addresses on one line, replies
/// paced at the line's baud rate after the request's own time on the wire, the same faults as
/// Modbus devices (no reply, delay, bad checksum, garbage, wrong address, error reply), and
/// silence for frames to any other meter and for broadcasts, as on a real bus.
public final class DLT645LineServer: Sendable {
    public let id: String
    public let settings: SerialSettings
    public let meters: [DLT645SimulatedMeter]
    public let pty: PseudoTerminal
    let clock: any SimulationClock
    let seed: UInt64
    private let wake = WakePipe()
    private let stats = Locked(RTULineServer.LineStatistics())
    private let thread = Locked<ServingThread?>(nil)

    public init(id: String, settings: SerialSettings, meters: [DLT645SimulatedMeter], clock: any SimulationClock,
                seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.meters = meters
        self.clock = clock
        self.seed = seed
        pty = try PseudoTerminal()
    }

    public var slavePath: String { pty.slavePath }
    public var statistics: RTULineServer.LineStatistics { stats.value }
    public var devices: [SimulatedDevice] { meters.map(\.device) }

    /// A meter by its unit number on the line (1, 2, … in scenario order) or its 12-digit address.
    public func meter(_ key: String) -> DLT645SimulatedMeter? {
        if key.count == 12, let address = try? DLT645Address(key), let meter = meters.first(where: { $0.address == address }) { return meter }
        if let unit = UInt8(key) { return meters.first { $0.device.unit.rawValue == unit } }
        return nil
    }

    public func start() {
        pty.flush()
        thread.withLock { $0 = ServingThread(name: "metersim dlt645 line \(id)") { [self] in self.serve() } }
    }

    public func stop() {
        wake.signal()
        thread.value?.join()
    }

    private func serve() {
        let framing = settings.framing
        // A partial frame older than this is dropped (a master that died mid-frame).
        let staleAfter = max(0.5, 30 * framing.seconds(forBytes: 1))
        var decoder = DLT645StreamDecoder()
        let noise = SeededNoise(seed: seed)
        var counter: UInt64 = 0
        var lastByteAt = Monotonic.now()
        var fds = [pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let timeout: Int32 = decoder.bufferedCount > 0 ? Int32(staleAfter * 1000) + 1 : -1
            let rc = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { return }
            if rc < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents & Int16(POLLIN) != 0 {
                guard let bytes = try? pty.readAvailable(), !bytes.isEmpty else { continue }
                decoder.append(bytes)
                lastByteAt = Monotonic.now()
            } else if fds[0].revents != 0 {
                _ = wake.sleep(0.05)
                continue
            } else if decoder.bufferedCount > 0, Monotonic.now() - lastByteAt >= staleAfter {
                decoder.reset()
            }
            while let item = decoder.next() {
                // A corrupted request gets no answer, as from a real meter.
                guard case let .frame(frame) = item else { stats.withLock { $0.discardedBytes += 1 }; continue }
                counter += 1
                guard handle(frame, arrivedAt: Monotonic.now(), framing: framing, random: { noise.unit(counter &+ $0) }) else { return }
            }
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: DLT645Frame, arrivedAt: Double, framing: SerialFraming, random: (UInt64) -> Double) -> Bool {
        stats.withLock { $0.frames += 1 }
        let addressed = meters.filter { $0.isAddressed(by: frame) }
        if frame.address.isBroadcast {
            for meter in addressed { _ = meter.respond(to: frame, at: clock.now()) }
            stats.withLock { $0.ignored += 1 }
            return true
        }
        // Several meters answering one wildcard frame would collide on the wire: stay silent.
        guard addressed.count == 1, let meter = addressed.first else {
            stats.withLock { $0.ignored += 1 }
            return true
        }
        meter.device.countRequest()
        let faults = meter.device.faults
        guard !faults.noReply, var reply = meter.respond(to: frame, at: clock.now()) else {
            stats.withLock { $0.ignored += 1 }
            return true
        }
        if let code = faults.exception {
            reply = DLT645Reply.errorReply(to: frame, from: meter.address, error: DLT645ErrorBits(rawValue: code))
        }
        if faults.wrongUnit {
            var wire = reply.address.wire
            wire[0] = DLT645BCD.byte((((try? DLT645BCD.value(wire[0])) ?? 0) + 1) % 100)
            reply.address = (try? DLT645Address(wire: wire)) ?? reply.address
        }
        guard var bytes = try? reply.encoded(preamble: 4) else { return true }
        if faults.badCRC { bytes[bytes.count - 2] ^= 0xFF }
        if faults.garbage {
            let count = 3 + Int(random(1) * 8)
            bytes = (0..<count).map { UInt8(truncatingIfNeeded: Int(random(UInt64(10 + $0)) * 256)) } + bytes
        }
        let requestEnd = arrivedAt + framing.seconds(forBytes: frame.data.count + DLT645Frame.overhead + 4) + framing.interFrameSilence
        if !wake.sleep(requestEnd - Monotonic.now() + Double(faults.delayMs) / 1000) { return false }
        stats.withLock { $0.replies += 1 }
        return writePaced(bytes, framing: framing)
    }

    private func writePaced(_ bytes: [UInt8], framing: SerialFraming) -> Bool {
        let charTime = framing.seconds(forBytes: 1)
        let start = Monotonic.now()
        var sent = 0
        while sent < bytes.count {
            let due = min(bytes.count, Int((Monotonic.now() - start) / charTime) + 1)
            if due > sent {
                do { try pty.write(bytes[sent..<due]) } catch { return true }
                sent = due
            }
            if sent < bytes.count { Monotonic.sleep(until: start + Double(sent) * charTime) }
            if wake.isSignalled { return false }
        }
        Monotonic.sleep(until: start + Double(bytes.count) * charTime + framing.interFrameSilence)
        return true
    }
}
