import MeterCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one thread that drives every Modbus TCP endpoint: poll(2) over their non-blocking sockets
/// and a wake pipe. A TCP meter is not a shared line, so it needs no thread of its own: a hundred
/// meters polled once a second cost one thread's wake-ups instead of a hundred threads' (and
/// stacks). Each endpoint still asks its device one request at a time; endpoints proceed side by
/// side.
///
/// The thread starts with the first endpoint and ends when the last one has closed; a bus wakes it
/// through the pipe when it queues a job or closes.
final class ModbusTCPLoop: Sendable {
    static let shared = ModbusTCPLoop()

    /// What a bus hands over; the endpoint itself is made on the loop thread.
    private struct Attachment: Sendable {
        var config: BusConfig
        var queue: JobQueue<ModbusTransaction>
        var status: BusStatus
        var finished: Promise<Void>
    }

    private struct State {
        var arriving: [Attachment] = []
        var running = false
    }

    private let state = Mutex(State())
    /// Read end and write end, both non-blocking: a wake-up never blocks a submitting task, and
    /// wake-ups that pile up while the loop is busy fold into one.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    private init() {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            }
        }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
    }

    /// A bus thread's deepest stack is a few Swift frames over poll(2) and the codec.
    static var threadStackBytes: Int { 256 * 1024 }

    /// Adds a bus's endpoint to the loop (starting the thread if it is not running); returns the
    /// bus's way to wake the loop.
    func attach(config: BusConfig, queue: JobQueue<ModbusTransaction>, status: BusStatus,
                finished: Promise<Void>) -> @Sendable () -> Void {
        let attachment = Attachment(config: config, queue: queue, status: status, finished: finished)
        let start = state.withLock { s -> Bool in
            s.arriving.append(attachment)
            defer { s.running = true }
            return !s.running
        }
        if start {
            do {
                try DedicatedThread(stackBytes: Self.threadStackBytes) { [self] in run() }
            } catch {
                let stranded = state.withLock { s -> [Attachment] in
                    s.running = false
                    defer { s.arriving.removeAll() }
                    return s.arriving
                }
                for a in stranded {
                    ModbusTCPEndpoint(config: a.config, queue: a.queue, status: a.status, finished: a.finished)
                        .abandon(reason: "cannot start the Modbus TCP thread: \(error)")
                }
            }
        } else {
            wake()
        }
        return { [self] in wake() }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func drainWakeUps() {
        var sink = [UInt8](repeating: 0, count: 64)
        while sink.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
    }

    // MARK: - The loop thread

    private func run() {
        var endpoints: [ModbusTCPEndpoint] = []
        var watched: [pollfd] = []
        /// `watched[i + 1]` belongs to `endpoints[owners[i]]`.
        var owners: [Int] = []
        while true {
            let arrived = state.withLock { s -> [Attachment]? in
                if s.arriving.isEmpty && endpoints.isEmpty {
                    s.running = false
                    return nil
                }
                defer { s.arriving.removeAll() }
                return s.arriving
            }
            guard let arrived else { return }
            for a in arrived {
                endpoints.append(ModbusTCPEndpoint(config: a.config, queue: a.queue, status: a.status, finished: a.finished))
            }

            var now = MonotonicClock.nowMs()
            for endpoint in endpoints { endpoint.advance(nowMs: now) }
            endpoints.removeAll { $0.isFinished }
            if endpoints.isEmpty { continue }

            watched.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            watched.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            var nextDeadline = UInt64.max
            for (i, endpoint) in endpoints.enumerated() {
                if let deadline = endpoint.deadlineMs { nextDeadline = min(nextDeadline, deadline) }
                let events = endpoint.events
                guard events != 0 else { continue }
                watched.append(pollfd(fd: endpoint.fd, events: events, revents: 0))
                owners.append(i)
            }
            let timeout: Int32 = nextDeadline == .max ? -1 : Int32(clamping: nextDeadline > now ? nextDeadline - now : 0)
            let ready = poll(&watched, nfds_t(watched.count), timeout)
            guard ready > 0 else { continue }
            if watched[0].revents != 0 { drainWakeUps() }
            now = MonotonicClock.nowMs()
            for (slot, owner) in owners.enumerated() where watched[slot + 1].revents != 0 {
                endpoints[owner].handle(watched[slot + 1].revents, nowMs: now)
            }
        }
    }
}
