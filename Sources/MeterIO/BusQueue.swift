import MeterCore

/// Why a bus's bounded queue turned a job away.
enum QueueRefusal {
    /// The bus is closed (or its thread could not start).
    case closed
    /// `capacity` jobs are already waiting.
    case full
}

/// A job a bus thread carries out: its answer goes to `continuation`; `refused` builds the error
/// for a job the queue did not take or dropped on close.
protocol BusJob: Sendable {
    associatedtype Output: Sendable
    associatedtype Failure: Error & CustomStringConvertible
    var continuation: CheckedContinuation<Result<Output, Failure>, Never> { get }
    func refused(_ why: QueueRefusal, bus: BusID, message: String) -> Failure
}

/// The bounded FIFO between submitters and a bus thread.
struct JobQueue<Job: BusJob>: Sendable {
    let capacity: Int
    var jobs: [Job] = []
    /// Set once the bus is closed (or could not start); new submissions fail with this reason.
    var closedReason: String?

    /// The array grows on demand: most buses have one job waiting at a time, and a gateway with a
    /// hundred buses should not hold a hundred full-size queues.
    init(capacity: Int) {
        self.capacity = capacity
    }
}

/// Both ends of a bus's queue, the same for every kind of bus: callers `submit` and `await` the
/// answer, the bus thread takes jobs with `next()`. A submission to a full queue fails at once
/// (and is counted) instead of piling up behind a dead line.
final class BusQueue<Job: BusJob>: Sendable {
    let bus: BusID
    private let state: Guarded<JobQueue<Job>>
    private let status: Guarded<BusStatistics>

    init(bus: BusID, capacity: Int, status: Guarded<BusStatistics>) {
        self.bus = bus
        state = Guarded(JobQueue(capacity: max(1, capacity)))
        self.status = status
    }

    /// Jobs waiting right now.
    var count: Int { state.withLock { $0.jobs.count } }

    /// Refuses every later submission with `reason` (e.g. the bus thread could not start).
    func refuseAll(because reason: String) {
        state.withLock { $0.closedReason = reason }
    }

    func submit(_ makeJob: (CheckedContinuation<Result<Job.Output, Job.Failure>, Never>) -> Job) async -> Result<Job.Output, Job.Failure> {
        await withCheckedContinuation { continuation in
            let job = makeJob(continuation)
            let refusal = state.withLock { queue -> (QueueRefusal, String)? in
                if let reason = queue.closedReason { return (.closed, reason) }
                guard queue.jobs.count < queue.capacity else { return (.full, "\(queue.capacity) transactions already waiting") }
                queue.jobs.append(job)
                return nil
            }
            guard let (why, message) = refusal else {
                state.broadcast()
                return
            }
            let error = job.refused(why, bus: bus, message: message)
            if why == .full {
                status.withLock {
                    $0.queueFullRejections += 1
                    $0.lastError = error.description
                }
            }
            continuation.resume(returning: .failure(error))
        }
    }

    /// Queued jobs fail with `.closed`; the one in progress (if any) is the bus thread's to finish.
    func close() {
        let pending = state.withLock { queue -> [Job] in
            if queue.closedReason == nil { queue.closedReason = "bus closed" }
            defer { queue.jobs.removeAll() }
            return queue.jobs
        }
        state.broadcast()
        for job in pending {
            job.continuation.resume(returning: .failure(job.refused(.closed, bus: bus, message: "bus closed before the transaction ran")))
        }
    }

    /// The bus thread's side: blocks until a job is waiting; nil once the bus is closed.
    func next() -> Job? {
        state.wait(until: { !$0.jobs.isEmpty || $0.closedReason != nil }, then: { queue -> Job? in
            queue.closedReason == nil ? queue.jobs.removeFirst() : nil
        })
    }
}
