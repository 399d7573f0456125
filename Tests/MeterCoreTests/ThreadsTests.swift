import Synchronization
import Testing
import MeterCore

/// The one job queue, thread runner and waitable state every worker thread is built on.
@Suite struct ThreadsTests {
    @Test func aFullQueueRefusesAtOnceAndAClosedOneSaysWhy() {
        let queue = JobQueue<Int>(capacity: 2)
        #expect(queue.enqueue(1) == nil)
        #expect(queue.enqueue(2) == nil)
        #expect(queue.enqueue(3) == .full(capacity: 2))
        #expect(queue.count == 2)
        #expect(queue.close(reason: "bus closed") == [1, 2], "queued jobs come back to be failed")
        #expect(queue.enqueue(4) == .closed("bus closed"))
        #expect(queue.next() == nil)
        #expect(queue.close(reason: "again").isEmpty)
    }

    @Test func urgentJobsGoAheadOfRoutineOnesInTheirOwnOrderAndFitInAFullQueue() {
        let queue = JobQueue<Int>(capacity: 3)
        for job in [1, 2, 3] { #expect(queue.enqueue(job) == nil) }
        #expect(queue.enqueue(4) == .full(capacity: 3))
        #expect(queue.enqueue(100, urgent: true) == nil)
        #expect(queue.enqueue(101, urgent: true) == nil)
        #expect(queue.next() == 100)
        #expect(queue.enqueue(102, urgent: true) == nil)
        #expect((0..<5).map { _ in queue.next() } == [101, 102, 1, 2, 3])
        for job in 0..<(3 + JobQueue<Int>.urgentReserve) { #expect(queue.enqueue(job, urgent: job >= 3) == nil) }
        #expect(queue.enqueue(99, urgent: true) == .full(capacity: 3))
    }

    @Test func aDrainingQueueHandsOutWhatWasQueuedBeforeItClosed() {
        let queue = JobQueue<Int>(capacity: 4)
        _ = queue.enqueue(1)
        _ = queue.enqueue(2)
        #expect(queue.close(reason: "store is closed", drain: true).isEmpty)
        #expect(queue.enqueue(3) == .closed("store is closed"))
        #expect(queue.next() == 1)
        #expect(queue.next() == 2)
        #expect(queue.next() == nil)
    }

    @Test func anEventLoopTakesWithoutBlockingAndKeepsTheGraceItself() {
        let queue = JobQueue<Int>(capacity: 4)
        #expect(taken(queue.take(urgentOnly: false)) == "empty")
        #expect(queue.enqueue(1) == nil)
        #expect(queue.enqueue(2) == nil)
        // In a command's grace only urgent jobs are handed out.
        #expect(taken(queue.take(urgentOnly: true)) == "empty")
        #expect(queue.enqueue(9, urgent: true) == nil)
        #expect(taken(queue.take(urgentOnly: true)) == "9")
        #expect(taken(queue.take(urgentOnly: false)) == "1")
        #expect(queue.close(reason: "done") == [2])
        #expect(taken(queue.take(urgentOnly: false)) == "closed")
    }

    private func taken(_ result: JobQueue<Int>.Taken) -> String {
        switch result {
        case let .job(job): String(job)
        case .empty: "empty"
        case .closed: "closed"
        }
    }

    @Test func aWorkerThreadTakesJobsInOrderUntilTheQueueCloses() {
        let queue = JobQueue<Int>(capacity: 100)
        let taken = Mutex<[Int]>([])
        let worker = try? DedicatedThread {
            while let job = queue.next() { taken.withLock { $0.append(job) } }
        }
        for job in 0..<50 { #expect(queue.enqueue(job) == nil) }
        queue.close(reason: "done", drain: true)
        #expect(worker?.join(timeoutMs: 5_000) == true)
        #expect(taken.withLock { $0 } == Array(0..<50))
    }

    @Test func runAwaitsTheResultOfBlockingWorkOnItsOwnThread() async {
        let value = await DedicatedThread.run(onCancel: -1) {
            DedicatedThread.sleep(microseconds: 20_000)
            return 42
        }
        #expect(value == 42)
    }

    @Test func aCancelledWaitReturnsAtOnceWhileTheThreadFinishesOnItsOwn() async {
        let release = WaitableState(false)
        let waiting = Task { await DedicatedThread.run(onCancel: "cancelled") { () -> String in
            release.wait(until: { $0 }, then: { _ in })
            return "finished"
        } }
        waiting.cancel()
        #expect(await waiting.value == "cancelled")
        release.withLock { $0 = true }
        release.broadcast()
    }

    @Test func joinWithATimeoutGivesUpOnAThreadThatDoesNotEnd() throws {
        let release = WaitableState(false)
        let thread = try DedicatedThread { release.wait(until: { $0 }, then: { _ in }) }
        #expect(!thread.join(timeoutMs: 50))
        release.withLock { $0 = true }
        release.broadcast()
        #expect(thread.join(timeoutMs: 5_000))
    }

    @Test func aTimedWaitReportsWhetherTheConditionCameTrue() {
        let state = WaitableState(0)
        #expect(!state.wait(until: { $0 > 0 }, timeoutMs: 30, then: { $0 > 0 }))
        _ = try? DedicatedThread {
            DedicatedThread.sleep(microseconds: 10_000)
            state.withLock { $0 = 1 }
            state.broadcast()
        }
        #expect(state.wait(until: { $0 > 0 }, timeoutMs: 5_000, then: { $0 > 0 }))
    }

    /// Local cost control holds a device's lock across the store's commit and a relay command: a
    /// second task must not get in while the first waits inside.
    @Test func anAsyncLockKeepsASecondTaskOutWhileTheFirstHoldsItAcrossAnAwait() async {
        let lock = AsyncLock()
        let trace = WaitableState<[String]>([])
        let (held, holding) = AsyncStream.makeStream(of: Void.self)
        let (release, releasing) = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            await lock.withLock {
                trace.withLock { $0.append("first in") }
                holding.yield()
                for await _ in release { break }
                trace.withLock { $0.append("first out") }
            }
        }
        for await _ in held { break }
        let second = Task {
            await lock.withLock { trace.withLock { $0.append("second in") } }
        }
        // Time enough for the second task to run up to the lock (and past it, if it were not held).
        try? await Task.sleep(for: .milliseconds(200))
        #expect(trace.withLock { $0 } == ["first in"], "the second task got in while the first held the lock")
        releasing.yield()
        await first.value
        await second.value
        #expect(trace.withLock { $0 } == ["first in", "first out", "second in"])
        // Free again: taken at once.
        #expect(await lock.withLock { 42 } == 42)
    }
}
