import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// A byte-stream decoder a simulated line feeds with what the client wrote.
protocol LineDecoder {
    var bufferedCount: Int { get }
    mutating func append(_ bytes: [UInt8])
    mutating func reset()
}

extension ModbusRTUFramer: LineDecoder {}
extension CJT188StreamDecoder: LineDecoder {}
extension DLT645StreamDecoder: LineDecoder {}

/// What every simulated serial line shares, whatever protocol it speaks: the pty, the serving
/// thread and its wake-up, the statistics, and the timing of a real line.
///
/// Timing: a pty delivers a request instantly, so a reply is held back for the time the request
/// would have taken on the wire plus the 3.5-character silence, then written paced at the line's
/// baud rate (deadline-based, so sleeps do not accumulate drift), then the silence is kept again.
final class PacedLine: Sendable {
    let pty: PseudoTerminal
    let wake = WakePipe()
    let stats = Mutex(RTULineServer.LineStatistics())
    private let thread = Mutex<DedicatedThread?>(nil)

    init() throws(PseudoTerminalError) {
        pty = try PseudoTerminal()
    }

    /// Runs `body` on a thread of its own. Stale bytes from an earlier client go first, before
    /// this returns: flushing on the serving thread could race with (and eat) a client's first request.
    func start(_ body: @escaping @Sendable () -> Void) throws(SimulatorError) {
        pty.flush()
        let serving: DedicatedThread
        do { serving = try DedicatedThread(stackBytes: 512 * 1024, body) } catch { throw SimulatorError("\(error)") }
        thread.withLock { $0 = serving }
    }

    func stop() {
        wake.signal()
        thread.withLock { $0 }?.join(timeoutMs: 5000)
    }

    /// Feeds `decoder` with what arrives on the pty and lets `drain` take the complete frames out;
    /// a partial frame older than `staleAfter` seconds is voided. Returns when the line is
    /// stopped or `drain` returns false.
    func serve<Decoder: LineDecoder>(_ decoder: inout Decoder, staleAfter: Double, drain: (inout Decoder) -> Bool) {
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
                // POLLHUP/POLLERR cannot last while we hold the slave open; avoid spinning anyway.
                _ = wake.sleep(0.05)
                continue
            } else if decoder.bufferedCount > 0, Monotonic.now() - lastByteAt >= staleAfter {
                decoder.reset()
            }
            guard drain(&decoder) else { return }
        }
    }

    /// Counts a frame that gets no answer; always true (the line keeps serving).
    func ignore() -> Bool {
        stats.withLock { $0.ignored += 1 }
        return true
    }

    /// Waits until `requestEnd` plus `delay` seconds, then writes `bytes` paced. Returns false
    /// when the line is stopping.
    func reply(_ bytes: [UInt8], requestEnd: Double, delay: Double, framing: SerialFraming) -> Bool {
        if !wake.sleep(requestEnd - Monotonic.now() + delay) { return false }
        stats.withLock { $0.replies += 1 }
        return writePaced(bytes, framing: framing)
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

extension DeviceFaults {
    /// The byte-level faults of a meter reply: a broken checksum, garbage before the frame.
    /// `random(k)` is the k-th noise value in [0, 1) for this request.
    func corrupting(_ encoded: [UInt8], random: (UInt64) -> Double) -> [UInt8] {
        var bytes = encoded
        if badCRC { bytes[bytes.count - 2] ^= 0xFF }
        if garbage {
            let count = 3 + Int(random(1) * 8)
            bytes = (0..<count).map { UInt8(truncatingIfNeeded: Int(random(UInt64(10 + $0)) * 256)) } + bytes
        }
        return bytes
    }
}
