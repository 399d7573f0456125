import MeterCore

/// A request waiting for a bus thread, and where its answer goes.
public protocol BusJob: Sendable {
    associatedtype Output: Sendable
    associatedtype Failure: BusError
    var continuation: CheckedContinuation<Result<Output, Failure>, Never> { get }
    /// Submitted inside `BusPriority.command`: runs ahead of routine polls, also for a device in back-off.
    var urgent: Bool { get }
    /// This job's error of `kind`, with its protocol's context (device, function, register or item).
    func error(_ kind: BusFailure, bus: BusID, message: String) -> Failure
}

extension BusJob {
    /// The error for a job the queue did not take, or dropped when the bus closed.
    func refused(_ why: JobQueue<Self>.Refusal, bus: BusID) -> Failure {
        switch why {
        case .full: error(.queueFull, bus: bus, message: why.explanation)
        case .closed: error(.closed, bus: bus, message: why.explanation)
        }
    }
}

/// The protocol-specific half of a bus (libmodbus, or a byte stream with a reply scanner): created
/// on the bus thread and confined to it, so it needs no locks of its own.
public protocol BusWorker: AnyObject {
    associatedtype Job: BusJob
    /// Carries out one job: retries, back-off and inter-frame silence included.
    func execute(_ job: Job) -> Result<Job.Output, Job.Failure>
    /// Closes the port or connection; the thread ends after it.
    func close()
}

/// One serial line or TCP endpoint, whose transactions run one at a time: on a thread of its own
/// (a serial line), or on an event loop shared with other endpoints (`ModbusTCPLoop`).
///
/// Every device on an RS-485 line goes through its line's bus, so frames never interleave. Callers
/// `await` results while the blocking calls run on the bus thread, never on Swift's cooperative
/// pool. The queue is bounded by `config.queueDepth`: a submission to a full queue fails at once
/// (and is counted) instead of piling up behind a dead line.
///
/// A caller that is cancelled while waiting still gets its answer (at most one transaction's
/// timeouts later): a request already on the wire cannot be taken back without corrupting the line.
///
/// `Sendable`: it holds constants, the queue and the counters; the worker (and the port or
/// `modbus_t*` inside it) is created on the bus thread and never leaves it.
public final class Bus<Worker: BusWorker>: Sendable {
    public let config: BusConfig
    private let queue: JobQueue<Worker.Job>
    private let status = BusStatus()
    /// Fulfilled when the thread has closed the port: a reload opens the same port again only then
    /// (libmodbus restores the line's old termios when it closes).
    private let finished = Promise<Void>()
    /// Tells an event loop that drives this bus (instead of a thread of its own) to look at the
    /// queue again; nil for a bus with its own thread, which waits on the queue itself.
    private let wake: (@Sendable () -> Void)?

    public var id: BusID { config.id }

    /// Starts the bus thread; the port or connection opens with the first transaction.
    init(config: BusConfig, makeWorker: @escaping @Sendable (BusStatus) -> Worker) {
        self.config = config
        queue = JobQueue(capacity: config.queueDepth)
        wake = nil
        let queue = queue, status = status, finished = finished, graceMs = Self.commandGraceMs
        do {
            try DedicatedThread(stackBytes: Self.threadStackBytes) {
                let worker = makeWorker(status)
                var lastWasUrgent = false
                while let job = queue.next(afterUrgent: lastWasUrgent, graceMs: graceMs) {
                    lastWasUrgent = job.urgent
                    let start = MonotonicClock.nowUs()
                    let result = worker.execute(job)
                    let end = MonotonicClock.nowUs()
                    status.addBusy(end &- start, endMs: end / 1000)
                    job.continuation.resume(returning: result)
                }
                worker.close()
                finished.fulfill(())
            }
        } catch {
            queue.close(reason: "cannot start the bus thread: \(error)")
            finished.fulfill(())
        }
    }

    /// A bus without a thread of its own: `attach` hands the queue, counters and the promise to
    /// fulfil once the connection is closed to an event loop, and returns how to wake that loop.
    init(config: BusConfig, attach: (JobQueue<Worker.Job>, BusStatus, Promise<Void>) -> @Sendable () -> Void) {
        self.config = config
        queue = JobQueue(capacity: config.queueDepth)
        wake = attach(queue, status, finished)
    }

    /// How long the line stays free for a command's next transaction (see `JobQueue.next(afterUrgent:graceMs:)`).
    static var commandGraceMs: Int { 20 }

    /// A bus thread's deepest stack is libmodbus or termios under a few Swift frames.
    static var threadStackBytes: Int { 512 * 1024 }

    deinit { close() }

    /// Stops the bus: queued transactions fail with `.closed`, the one in progress (if any) finishes
    /// within its timeout, then the thread closes the port and ends. Does not block.
    public func close() {
        for job in queue.close(reason: "bus closed") {
            job.continuation.resume(returning: .failure(job.refused(.closed("bus closed before the transaction ran"), bus: config.id)))
        }
        wake?()
    }

    /// Returns once the thread has closed the port or connection (call `close` first).
    public func closed() async { await finished.settled() }

    public var statistics: BusStatistics {
        var snapshot = status.snapshot
        snapshot.queued = queue.count
        return snapshot
    }

    /// `statistics` with the counters and back-off of every device that has been on the line.
    public var statisticsWithDevices: (bus: BusStatistics, devices: [LineDevice: DeviceLineStatistics]) {
        var snapshot = status.snapshotWithDevices
        snapshot.bus.queued = queue.count
        return snapshot
    }

    func submit(_ makeJob: (CheckedContinuation<Result<Worker.Job.Output, Worker.Job.Failure>, Never>, _ urgent: Bool) -> Worker.Job)
        async -> Result<Worker.Job.Output, Worker.Job.Failure> {
        let urgent = BusPriority.isCommand
        return await withCheckedContinuation { continuation in
            let job = makeJob(continuation, urgent)
            guard let refusal = queue.enqueue(job, urgent: urgent) else {
                wake?()
                return
            }
            let error = job.refused(refusal, bus: config.id)
            if case .full = refusal {
                status.update {
                    $0.queueFullRejections += 1
                    $0.lastError = error.description
                }
            }
            continuation.resume(returning: .failure(error))
        }
    }
}

/// Head-end commands jump the queue: every bus transaction a task starts inside `command { }` —
/// the command, its read-back, a `read.now` — is queued ahead of routine polls (one transaction of
/// waiting at most, the one on the wire) and is tried even for a device in back-off. A task-local
/// value rather than a parameter, so that drivers need not pass it through every read and write.
public enum BusPriority {
    @TaskLocal static var isCommand = false

    public static func command<T: Sendable>(_ body: () async -> T) async -> T {
        await $isCommand.withValue(true, operation: body)
    }
}

extension JobQueue.Refusal {
    /// For error messages.
    public var explanation: String {
        switch self {
        case let .closed(reason): reason
        case let .full(capacity): "\(capacity) transactions already waiting"
        }
    }
}
