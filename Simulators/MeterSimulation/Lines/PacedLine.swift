import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// A byte-stream decoder a simulated line feeds with what the client wrote.
protocol LineDecoder {
    associatedtype Frame
    var bufferedCount: Int { get }
    /// Bytes thrown away so far (line noise, frames that failed their checks).
    var discardedBytes: Int { get }
    mutating func append(_ bytes: [UInt8])
    mutating func reset()
    mutating func nextFrame() -> Frame?
}

extension ModbusRTUFramer: LineDecoder {}
extension CJT188StreamDecoder: LineDecoder {}

/// DL/T 645 requests; a corrupted one counts as one discarded byte (and gets no answer, as from a
/// real meter).
struct DLT645RequestDecoder: LineDecoder {
    private var stream = DLT645StreamDecoder()
    private(set) var discardedBytes = 0
    var bufferedCount: Int { stream.bufferedCount }
    mutating func append(_ bytes: [UInt8]) { stream.append(bytes) }
    mutating func reset() { stream.reset() }
    mutating func nextFrame() -> DLT645Frame? {
        while let item = stream.next() {
            guard case let .frame(frame) = item else { discardedBytes += 1; continue }
            return frame
        }
        return nil
    }
}

/// What a simulated serial line counts.
public struct LineStatistics: Sendable, Hashable {
    public var frames = 0
    public var replies = 0
    public var ignored = 0
    public var discardedBytes = 0
}

/// One request on a line: when it arrived, and the noise for its byte-level faults.
struct LineRequest {
    let arrivedAt: Double
    let number: UInt64
    let noise: SeededNoise
    /// The k-th noise value in [0, 1) for this request.
    func random(_ k: UInt64) -> Double { noise.unit(number &+ k) }
}

/// What every simulated serial line shares, whatever protocol it speaks: its id, settings and
/// seed, the pty, the serving thread and its wake-up, the serving loop, the statistics, and the
/// timing of a real line. Public only as the handle `SerialLineServer` needs; nothing of it is.
///
/// Timing: a pty delivers a request instantly, so a reply is held back for the time the request
/// would have taken on the wire plus the 3.5-character silence, then written paced at the line's
/// baud rate (deadline-based, so sleeps do not accumulate drift), then the silence is kept again.
/// A meter with a rate of its own (`SimulatedDevice.baud`) is paced at that rate, and answers
/// only while the client's end of the pty is set to it (`hears`).
public final class PacedLine: Sendable {
    let id: String
    let settings: SerialSettings
    let seed: UInt64
    let pty: PseudoTerminal
    let wake = WakePipe()
    private let stats = Mutex(LineStatistics())
    private let thread = Mutex<DedicatedThread?>(nil)

    init(id: String, settings: SerialSettings, seed: UInt64) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.seed = seed
        pty = try PseudoTerminal()
    }

    var framing: SerialFraming { settings.framing }
    var statistics: LineStatistics { stats.withLock { $0 } }

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

    /// Feeds `decoder` with what arrives on the pty and hands every whole frame to `handle`; a
    /// partial frame older than `staleAfter` seconds is voided. Returns when the line is stopped
    /// or `handle` returns false. The line's seed seeds the requests' noise.
    func serve<Decoder: LineDecoder>(_ decoder: Decoder, staleAfter: Double, handle: (Decoder.Frame, LineRequest) -> Bool) {
        var decoder = decoder
        let noise = SeededNoise(seed: seed)
        var requests: UInt64 = 0
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
            while let frame = decoder.nextFrame() {
                requests += 1
                stats.withLock { $0.frames += 1 }
                guard handle(frame, LineRequest(arrivedAt: Monotonic.now(), number: requests, noise: noise)) else { return }
            }
            let discarded = decoder.discardedBytes
            stats.withLock { $0.discardedBytes = discarded }
        }
    }

    /// A partial frame older than this is voided: 1.5 characters on a real line; a pty has no
    /// timing, so allow for a client that writes byte by byte.
    var characterGap: Double { max(0.05, 1.5 * framing.seconds(forBytes: 1)) }

    /// Counts a frame that gets no answer; always true (the line keeps serving).
    func ignore() -> Bool {
        stats.withLock { $0.ignored += 1 }
        return true
    }

    /// The rate `device` runs at: its own, or the line's.
    func baud(of device: SimulatedDevice) -> Int { device.baud ?? settings.baud }

    /// The line's framing at `device`'s rate: replies are paced at the rate of the meter sending them.
    func framing(of device: SimulatedDevice) -> SerialFraming {
        var own = settings
        own.baud = baud(of: device)
        return own.framing
    }

    /// Whether `device` makes sense of what the client sends. A pty moves bytes at any rate, so
    /// the rate the client set on its end (read through the master) stands in for the wire: a
    /// meter understands only a client at its own rate, as on a real line.
    func hears(_ device: SimulatedDevice) -> Bool { pty.terminalBaud == baud(of: device) }

    /// What a meter at another rate than the client's does with a frame meant for it: it receives
    /// noise, so (decided by the request's noise, reproducibly) it either stays silent or puts a
    /// few bytes on the line that the client reads as garbage. Always true, like `ignore`.
    func mismatch(_ request: LineRequest, requestBytes: Int, device: SimulatedDevice) -> Bool {
        guard request.random(3) < 0.5 else { return ignore() }
        let count = 2 + Int(request.random(4) * 5)
        let noise = (0..<count).map { UInt8(truncatingIfNeeded: Int(request.random(UInt64(20 + $0)) * 256)) }
        return reply(noise, to: request, requestBytes: requestBytes, delay: 0, framing: framing(of: device))
    }

    /// What the client receives when several meters answer one frame at once (a wildcard on a
    /// shared line): their replies on the wire together. An RS-485 driver sending a 0 bit wins
    /// over one sending the idle 1, so the bytes overlap as their AND: one garbled frame, not two
    /// clean ones.
    static func collide(_ replies: [[UInt8]]) -> [UInt8] {
        var wire: [UInt8] = []
        for reply in replies {
            for (i, byte) in reply.enumerated() {
                if i < wire.count { wire[i] &= byte } else { wire.append(byte) }
            }
        }
        return wire
    }

    /// How the meters a frame addresses answer it: none at the client's rate → what a mismatched
    /// meter does; several (a wildcard) → their replies collide; one → its reply after its delay.
    /// `device` tells a meter's simulated device, `answer` its reply (nil: it stays silent).
    func answer<Meter>(_ request: LineRequest, requestBytes: Int, addressed: [Meter], device: (Meter) -> SimulatedDevice,
                       answer: (Meter) -> [UInt8]?) -> Bool {
        let hearing = addressed.filter { hears(device($0)) }
        guard let first = hearing.first else {
            guard let deaf = addressed.first else { return ignore() }
            return mismatch(request, requestBytes: requestBytes, device: device(deaf))
        }
        guard hearing.count == 1 else {
            let replies = hearing.compactMap(answer)
            if replies.isEmpty { return ignore() }
            return reply(Self.collide(replies), to: request, requestBytes: requestBytes, delay: 0, framing: framing(of: device(first)))
        }
        guard let bytes = answer(first) else { return ignore() }
        return reply(bytes, to: request, requestBytes: requestBytes, delay: Double(device(first).faults.delayMs) / 1000,
                     framing: framing(of: device(first)))
    }

    /// Waits until the request of `requestBytes` bytes has ended on the wire, then `delay` seconds,
    /// then writes `bytes` paced (at `framing`, by default the line's). Returns false when the line
    /// is stopping.
    func reply(_ bytes: [UInt8], to request: LineRequest, requestBytes: Int, delay: Double, framing: SerialFraming? = nil) -> Bool {
        let framing = framing ?? self.framing
        let requestEnd = request.arrivedAt + framing.seconds(forBytes: requestBytes) + framing.interFrameSilence
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
