/// The bounded FIFO between the tasks that submit work and the one dedicated thread that carries
/// it out (a bus's transactions, a store's sqlite3 calls). A submission to a full or closed queue
/// is refused at once, instead of piling up behind a dead line or a stuck disk.
///
/// Urgent jobs (a head-end command on a bus) go ahead of every routine one, in their own order,
/// and may use `urgentReserve` places beyond `capacity`: a queue full of polls never refuses a
/// command.
///
/// The per-job methods are `@inlinable` so that they are specialised for each job type in the
/// module that uses them: unspecialised, every job looked up its array's metadata at run time
/// (about 5% more instructions per polled point).
public final class JobQueue<Job: Sendable>: Sendable {
    /// Why a job was not taken.
    public enum Refusal: Sendable, Equatable {
        /// The queue is closed (or its thread could not start): the reason given to `close`.
        case closed(String)
        /// `capacity` jobs are already waiting.
        case full(capacity: Int)
    }

    @usableFromInline
    struct State: Sendable {
        /// Grows on demand: most queues hold one job at a time, and a gateway with a hundred buses
        /// should not hold a hundred full-size arrays.
        @usableFromInline var jobs: [Job] = []
        /// The first `urgent` jobs are urgent ones.
        @usableFromInline var urgent = 0
        @usableFromInline var closedReason: String?
        /// Whether `next()` still hands out the jobs queued before `close`.
        @usableFromInline var drainAfterClose = false

        @usableFromInline init() {}
    }

    public let capacity: Int
    public static var urgentReserve: Int { 8 }
    @usableFromInline let state = WaitableState(State())

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Jobs waiting right now.
    @inlinable public var count: Int { state.withLock { $0.jobs.count } }

    /// Queues `job` (ahead of the routine jobs when `urgent`); nil when taken, otherwise why not
    /// (the job was not queued).
    @inlinable public func enqueue(_ job: Job, urgent: Bool = false) -> Refusal? {
        let refusal = state.withLock { s -> Refusal? in
            if let reason = s.closedReason { return .closed(reason) }
            guard s.jobs.count < capacity + (urgent ? Self.urgentReserve : 0) else { return .full(capacity: capacity) }
            if urgent {
                s.jobs.insert(job, at: s.urgent)
                s.urgent += 1
            } else {
                s.jobs.append(job)
            }
            return nil
        }
        if refusal == nil { state.broadcast() }
        return refusal
    }

    /// Refuses every later submission with `reason`. With `drain`, `next()` still hands out what
    /// is queued and returns nil after it; otherwise the queued jobs are returned here for the
    /// caller to fail. A second close changes nothing and returns nothing.
    @discardableResult
    public func close(reason: String, drain: Bool = false) -> [Job] {
        let pending = state.withLock { s -> [Job] in
            guard s.closedReason == nil else { return [] }
            s.closedReason = reason
            s.drainAfterClose = drain
            if drain { return [] }
            defer { s.jobs.removeAll(); s.urgent = 0 }
            return s.jobs
        }
        state.broadcast()
        return pending
    }

    /// Everything still queued, for the worker that stops to fail; the queue is closed after it.
    public func closeAndTakeAll(reason: String) -> [Job] {
        let pending = state.withLock { s -> [Job] in
            if s.closedReason == nil { s.closedReason = reason }
            defer { s.jobs.removeAll(); s.urgent = 0 }
            return s.jobs
        }
        state.broadcast()
        return pending
    }

    /// Like `next()`, but after an urgent job first gives the urgent lane `graceMs` to fill again:
    /// a head-end command is several transactions (the write, then its read-back), and the task
    /// that submits the next one needs a moment to run; without the grace a routine poll would slip
    /// in between and the command would wait for the line twice.
    @inlinable public func next(afterUrgent: Bool, graceMs: Int) -> Job? {
        if afterUrgent {
            state.wait(until: { $0.urgent > 0 || $0.closedReason != nil }, timeoutMs: graceMs, then: { _ in })
        }
        return next()
    }

    /// What `take` finds.
    public enum Taken: Sendable {
        case job(Job)
        /// Nothing waiting (or, with `urgentOnly`, no urgent job).
        case empty
        /// Closed, and nothing more to hand out.
        case closed
    }

    /// An event loop's side of `next()`: never blocks. `urgentOnly` is the command grace of
    /// `next(afterUrgent:graceMs:)`, which the loop times itself.
    @inlinable public func take(urgentOnly: Bool) -> Taken {
        state.withLock { s -> Taken in
            if s.closedReason != nil && (!s.drainAfterClose || s.jobs.isEmpty) { return .closed }
            if s.jobs.isEmpty || (urgentOnly && s.urgent == 0) { return .empty }
            if s.urgent > 0 { s.urgent -= 1 }
            return .job(s.jobs.removeFirst())
        }
    }

    /// The worker thread's side: blocks until a job is waiting; nil once the queue is closed (and,
    /// when it was closed with `drain`, empty). Never call it from a Swift task.
    @inlinable public func next() -> Job? {
        state.wait(until: { !$0.jobs.isEmpty || $0.closedReason != nil }, then: { s -> Job? in
            if s.closedReason != nil && !s.drainAfterClose { return nil }
            if s.jobs.isEmpty { return nil }
            if s.urgent > 0 { s.urgent -= 1 }
            return s.jobs.removeFirst()
        })
    }
}
