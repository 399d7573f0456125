#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import MeterIO

/// stdout or stderr, written by a thread of its own. A write blocks while the reader of a pipe
/// (journald, a shell pipeline, a test harness) is slow; done from a task it would hold one of the
/// cooperative pool's few threads, and with it every poll scheduled there. Each stream has its
/// own thread, so an unread stdout does not silence the log.
///
/// The queue is bounded by bytes. Readings wait for room (`write`), so a slow stdout slows the
/// poller down instead of losing readings, until their task is cancelled (the agent is stopping:
/// they are in the store); log lines (`post`) are dropped when it is full. What is dropped is
/// counted and the count is logged once there is room again. Whatever is queued is written before
/// the process exits (bounded: a reader that never reads cannot hold the exit for ever).
public final class ConsoleOutput: Sendable {
    public static let stderr = ConsoleOutput(fd: STDERR_FILENO, capacityBytes: 64 * 1024)
    public static let stdout = ConsoleOutput(fd: STDOUT_FILENO, capacityBytes: 256 * 1024, noticesTo: stderr)

    /// Text as the caller made it (no copy: readings' JSON is shared with the store's queue),
    /// optionally a line per piece.
    private struct Chunk: Sendable {
        let pieces: [String]
        let newlines: Bool
        let bytes: Int

        init(pieces: [String], newlines: Bool) {
            self.pieces = pieces
            self.newlines = newlines
            bytes = pieces.reduce(newlines ? pieces.count : 0) { $0 + $1.utf8.count }
        }
    }

    private struct State: Sendable {
        var chunks: [Chunk] = []
        /// Queued and being written.
        var bytes = 0
        var writerStarted = false
        /// Lines dropped and not reported yet.
        var dropped = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let fd: Int32
    private let capacityBytes: Int
    /// Where drop counts are reported; nil: this stream itself.
    private let notices: ConsoleOutput?
    private let state = WaitableState(State())

    init(fd: Int32, capacityBytes: Int, noticesTo notices: ConsoleOutput? = nil) {
        self.fd = fd
        self.capacityBytes = capacityBytes
        self.notices = notices
    }

    /// Queues `lines`, each followed by a newline, waiting (suspended, not blocking) while the
    /// queue is full. Once the task is cancelled, lines that do not fit are dropped.
    public func write(lines: [String]) async {
        guard !lines.isEmpty else { return }
        let chunk = Chunk(pieces: lines, newlines: true)
        while !enqueue(chunk, dropIfFull: Task.isCancelled) {
            if Task.isCancelled { return }
            let id = state.withLock { s in
                defer { s.nextWaiter += 1 }
                return s.nextWaiter
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    // Checked under the lock the writer frees room under and the cancellation
                    // handler looks under, so no wake-up is missed.
                    let resumeNow = state.withLock { s in
                        if hasRoom(s, for: chunk) || Task.isCancelled { return true }
                        s.waiters[id] = waiter
                        return false
                    }
                    if resumeNow { waiter.resume() }
                }
            } onCancel: {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    /// Queues `text` without waiting; when the queue is full the text is dropped and counted.
    public func post(_ text: String) {
        enqueue(Chunk(pieces: [text], newlines: false), dropIfFull: true)
    }

    /// Waits until everything queued on both standard streams is written, for at most 5 s in all.
    /// Blocks the calling thread.
    static func drainStandardStreams() {
        let deadline = ContinuousClock.now + .seconds(5)
        stdout.drain(until: deadline)
        stderr.drain(until: deadline)
    }

    /// Waits until everything queued is written or `deadline` has passed. Blocks the calling thread.
    func drain(until deadline: ContinuousClock.Instant) {
        while !isIdle && ContinuousClock.now < deadline { DedicatedThread.sleep(microseconds: 10_000) }
    }

    /// Nothing queued or being written.
    var isIdle: Bool { state.withLock { $0.bytes == 0 } }

    private func hasRoom(_ s: State, for chunk: Chunk) -> Bool {
        // An empty queue takes any chunk, however large, so nothing waits for ever.
        s.bytes == 0 || s.bytes + chunk.bytes <= capacityBytes
    }

    /// False when the queue is full. A dropped chunk is counted under the same lock as the check,
    /// so the writer's next report cannot miss it.
    @discardableResult
    private func enqueue(_ chunk: Chunk, dropIfFull: Bool) -> Bool {
        let (admitted, startWriter) = state.withLock { s -> (Bool, Bool) in
            guard hasRoom(s, for: chunk) else {
                if dropIfFull { s.dropped += chunk.pieces.count }
                return (false, false)
            }
            s.chunks.append(chunk)
            s.bytes += chunk.bytes
            let start = !s.writerStarted
            s.writerStarted = true
            return (true, start)
        }
        if admitted {
            state.broadcast()
            if startWriter { startWriterThread() }
        }
        return admitted
    }

    private func startWriterThread() {
        do {
            try DedicatedThread(stackBytes: 128 * 1024) { [self] in
                var writer = ChunkWriter(fd: fd)
                while true { written(writer.write(takeChunks(waiting: true))) }
            }
            _ = Self.drainAtExit
        } catch {
            // No thread to spare: write on the caller's thread, as a plain program would.
            var writer = ChunkWriter(fd: fd)
            var chunks = takeChunks(waiting: false)
            while !chunks.isEmpty {
                written(writer.write(chunks))
                chunks = takeChunks(waiting: false)
            }
            state.withLock { $0.writerStarted = false }
        }
    }

    /// Registered once, by the first writer thread.
    private static let drainAtExit: Void = { atexit { ConsoleOutput.drainStandardStreams() } }()

    /// Everything queued, oldest first; when `waiting`, at least one chunk.
    private func takeChunks(waiting: Bool) -> [Chunk] {
        let take = { (s: inout State) -> [Chunk] in
            defer { s.chunks.removeAll(keepingCapacity: false) }
            return s.chunks
        }
        return waiting ? state.wait(until: { !$0.chunks.isEmpty }, then: take) : state.withLock(take)
    }

    /// Copies pieces into one reused buffer and writes it when full, so a batch of short lines
    /// costs a few writes and no allocation.
    private struct ChunkWriter {
        static let bufferSize = 16 * 1024
        let fd: Int32
        var buffer: [UInt8] = []

        init(fd: Int32) { self.fd = fd }

        /// Writes `chunks`; returns their size in bytes.
        mutating func write(_ chunks: [Chunk]) -> Int {
            var bytes = 0
            for chunk in chunks {
                for piece in chunk.pieces {
                    buffer.append(contentsOf: piece.utf8)
                    if chunk.newlines { buffer.append(0x0A) }
                    if buffer.count >= Self.bufferSize { flush() }
                }
                bytes += chunk.bytes
            }
            flush()
            return bytes
        }

        private mutating func flush() {
            guard !buffer.isEmpty else { return }
            // A closed or broken stream is not worth stopping the agent over.
            try? DescriptorIO.writeAll(fd, buffer, endpoint: fd == STDERR_FILENO ? "stderr" : "stdout")
            // A piece far over the buffer's size (a long error text) does not keep its room.
            if buffer.capacity > 4 * Self.bufferSize { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
        }
    }

    /// Frees the room of `bytes` written, wakes the writers waiting for it, and reports the lines
    /// dropped so far (if the notice does not fit either, they stay counted for the next write).
    private func written(_ bytes: Int) {
        let (waiters, dropped) = state.withLock { s in
            s.bytes -= bytes
            defer { s.waiters.removeAll() }
            return (s.waiters.values, s.dropped)
        }
        state.broadcast()
        waiters.forEach { $0.resume() }
        guard dropped > 0 else { return }
        let stream = switch fd {
        case STDOUT_FILENO: "stdout"
        case STDERR_FILENO: "stderr"
        default: "fd \(fd)"
        }
        let notice = UTCTime.rfc3339(WallClock.nowMs())
            + " warning \(stream) was not read fast enough; lines dropped count=\(dropped)\n"
        if (notices ?? self).enqueue(Chunk(pieces: [notice], newlines: false), dropIfFull: false) {
            state.withLock { $0.dropped -= dropped }
        }
    }
}
