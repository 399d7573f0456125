import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// One simulated RS-485 line: a pty whose slave end a client opens like a serial port, with
/// several unit ids on it. Requests for units not on the line get no answer, as on a real bus.
///
/// Timing: a pty delivers a request instantly, so the server first waits for the time the
/// request would have taken on the wire plus the 3.5-character silence, then writes the reply
/// paced at the line's baud rate (deadline-based, so sleeps do not accumulate drift), then keeps
/// the silence again. That makes a simulated line carry as many transactions per second as a
/// real one (about 24/s for 10 registers at 9600 8N1).
public final class RTULineServer: Sendable {
    public let id: String
    public let settings: SerialSettings
    public let devices: [SimulatedDevice]
    public let pty: PseudoTerminal
    let seed: UInt64
    private let wake = WakePipe()
    private let stats = Locked(LineStatistics())
    private let thread = Locked<ServingThread?>(nil)

    public struct LineStatistics: Sendable, Hashable {
        public var frames = 0
        public var replies = 0
        public var ignored = 0
        public var discardedBytes = 0
    }

    public init(id: String, settings: SerialSettings, devices: [SimulatedDevice], seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.devices = devices
        self.seed = seed
        pty = try PseudoTerminal()
    }

    public var slavePath: String { pty.slavePath }
    public var statistics: LineStatistics { stats.value }

    public func device(unit: UInt8) -> SimulatedDevice? { devices.first { $0.unit.rawValue == unit } }

    public func start() throws(ModbusServerError) {
        // Built here so that a libmodbus failure is reported to the caller, then moved to the thread.
        let responder = try ModbusResponder(framing: .rtu, devices: devices, seed: seed)
        // Stale bytes from an earlier client go now, before start() returns: flushing on the
        // serving thread could race with (and eat) a client's first request.
        pty.flush()
        let box = UncheckedBox(responder)
        thread.withLock { $0 = ServingThread(name: "metersim line \(id)") { [self] in self.serve(box.take()) } }
    }

    public func stop() {
        wake.signal()
        thread.value?.join()
    }

    private func serve(_ responder: ModbusResponder) {
        let framing = settings.framing
        let charTime = framing.seconds(forBytes: 1)
        // A partial frame older than this is voided (1.5 characters on a real line; a pty has no
        // timing, so allow for a client that writes byte by byte).
        let staleAfter = max(0.05, 1.5 * charTime)
        var framer = ModbusRTUFramer(direction: .request)
        var lastByteAt = Monotonic.now()
        var fds = [pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let timeout: Int32 = framer.bufferedCount > 0 ? Int32(staleAfter * 1000) + 1 : -1
            let rc = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { return }
            if rc < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents & Int16(POLLIN) != 0 {
                guard let bytes = try? pty.readAvailable(), !bytes.isEmpty else { continue }
                framer.append(bytes)
                lastByteAt = Monotonic.now()
            } else if fds[0].revents != 0 {
                // POLLHUP/POLLERR cannot last while we hold the slave open; avoid spinning anyway.
                _ = wake.sleep(0.05)
                continue
            } else if framer.bufferedCount > 0, Monotonic.now() - lastByteAt >= staleAfter {
                framer.reset()
            }
            while let frame = framer.nextFrame() {
                let arrived = Monotonic.now()
                guard handle(frame, arrivedAt: arrived, responder: responder, framing: framing) else { return }
            }
            let discarded = framer.discardedBytes
            stats.withLock { $0.discardedBytes = discarded }
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: ModbusRTUFrame, arrivedAt: Double, responder: ModbusResponder, framing: SerialFraming) -> Bool {
        stats.withLock { $0.frames += 1 }
        // Broadcast: every device applies a write, nobody answers.
        if frame.unit == 0 {
            for device in devices { _ = responder.respond(to: frame.bytes, unit: device.unit.rawValue, pdu: frame.pdu) }
            return true
        }
        // The request's own time on the wire, then the silence that ends it.
        let requestEnd = arrivedAt + framing.seconds(forBytes: frame.bytes.count) + framing.interFrameSilence
        guard let reply = responder.respond(to: frame.bytes, unit: frame.unit, pdu: frame.pdu) else {
            stats.withLock { $0.ignored += 1 }
            return true
        }
        if !wake.sleep(requestEnd - Monotonic.now() + Double(reply.delayMs) / 1000) { return false }
        stats.withLock { $0.replies += 1 }
        return writePaced(reply.bytes, framing: framing)
    }

    /// Writes `bytes` so that byte i leaves no earlier than i character times after the first,
    /// then keeps the line silent for 3.5 characters.
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

/// Moves a non-Sendable value into the one thread that will use it.
/// `@unchecked Sendable`: `take()` is called once, on the receiving thread, after the sender
/// has dropped its reference, so the value is never used from two threads.
final class UncheckedBox<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: Value) { self.value = value }
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}
