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
/// through the pipe when it queues a job or closes. A bus configured with a host name rather than
/// an address holds the loop for its DNS lookup on each connect (not on each transaction).
final class ModbusTCPLoop: Sendable {
    static let shared = ModbusTCPLoop()

    /// What a bus hands over; the endpoint itself is made on the loop thread.
    private struct Attachment: Sendable {
        var token: Int
        var config: BusConfig
        var queue: JobQueue<ModbusTransaction>
        var status: BusStatus
        var finished: Promise<Void>
    }

    private struct State {
        var arriving: [Attachment] = []
        /// Endpoints whose bus queued a job or closed since the loop last looked.
        var woken: [Int] = []
        var nextToken = 0
        var running = false
    }

    private let state = Mutex(State())
    /// Read end and write end, both non-blocking: a wake-up never blocks a submitting task. One
    /// byte is written when the first endpoint of a round is woken; later ones only join the list.
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

    /// The loop's deepest stack is a few Swift frames over poll(2) and the codec.
    static var threadStackBytes: Int { 256 * 1024 }

    /// Adds a bus's endpoint to the loop (starting the thread if it is not running); returns the
    /// bus's way to wake the loop for its endpoint.
    func attach(config: BusConfig, queue: JobQueue<ModbusTransaction>, status: BusStatus,
                finished: Promise<Void>) -> @Sendable () -> Void {
        let (token, start, poke) = state.withLock { s -> (Int, Bool, Bool) in
            let token = s.nextToken
            s.nextToken += 1
            let poke = s.arriving.isEmpty && s.woken.isEmpty
            s.arriving.append(Attachment(token: token, config: config, queue: queue, status: status, finished: finished))
            defer { s.running = true }
            return (token, !s.running, poke)
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
        } else if poke {
            pokeLoop()
        }
        return { [self] in wake(token) }
    }

    private func wake(_ token: Int) {
        let poke = state.withLock { s -> Bool in
            // Not running: no endpoint is open, so none is waiting for this (a bus closing twice).
            guard s.running else { return false }
            let poke = s.arriving.isEmpty && s.woken.isEmpty
            s.woken.append(token)
            return poke
        }
        if poke { pokeLoop() }
    }

    private func pokeLoop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func drainWakeUps() {
        var sink = (UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &sink, { read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
    }

    // MARK: - The loop thread

    private func run() {
        var endpoints: [ModbusTCPEndpoint] = []
        var byToken: [Int: ModbusTCPEndpoint] = [:]
        var arrived: [Attachment] = []
        var woken: [Int] = []
        var watched: [pollfd] = []
        /// `watched[i + 1]` belongs to `endpoints[owners[i]]`.
        var owners: [Int] = []
        while true {
            let open = state.withLock { s -> Bool in
                if s.arriving.isEmpty && endpoints.isEmpty {
                    s.running = false
                    return false
                }
                swap(&arrived, &s.arriving)
                swap(&woken, &s.woken)
                return true
            }
            guard open else { return }

            var now = MonotonicClock.nowMs()
            for a in arrived {
                let endpoint = ModbusTCPEndpoint(config: a.config, queue: a.queue, status: a.status, finished: a.finished)
                endpoints.append(endpoint)
                byToken[a.token] = endpoint
                endpoint.advance(nowMs: now)
            }
            arrived.removeAll(keepingCapacity: true)
            for token in woken { byToken[token]?.advance(nowMs: now) }
            woken.removeAll(keepingCapacity: true)

            watched.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            watched.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            var nextDeadline = UInt64.max
            var anyFinished = false
            for (i, endpoint) in endpoints.enumerated() {
                if let deadline = endpoint.deadlineMs, deadline <= now { endpoint.advance(nowMs: now) }
                if endpoint.isFinished {
                    anyFinished = true
                    continue
                }
                if let deadline = endpoint.deadlineMs { nextDeadline = min(nextDeadline, deadline) }
                let events = endpoint.events
                guard events != 0 else { continue }
                watched.append(pollfd(fd: endpoint.fd, events: events, revents: 0))
                owners.append(i)
            }
            if anyFinished {
                endpoints.removeAll { $0.isFinished }
                byToken = byToken.filter { !$0.value.isFinished }
                continue
            }
            if endpoints.isEmpty { continue }

            let timeout: Int32 = nextDeadline == .max ? -1 : Int32(clamping: nextDeadline > now ? nextDeadline - now : 0)
            guard poll(&watched, nfds_t(watched.count), timeout) > 0 else { continue }
            if watched[0].revents != 0 { drainWakeUps() }
            now = MonotonicClock.nowMs()
            for (slot, owner) in owners.enumerated() where watched[slot + 1].revents != 0 {
                let endpoint = endpoints[owner]
                endpoint.handle(watched[slot + 1].revents, nowMs: now)
                // A transaction that ended there makes room for the next queued one.
                endpoint.advance(nowMs: now)
            }
        }
    }
}
