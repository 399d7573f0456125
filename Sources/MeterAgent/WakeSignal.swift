import Synchronization

/// Lets a task that idles between polls (the forwarder on an empty outbox) be woken at once when
/// there is work (a command result): `wait(upToMs:)` returns on `wake()`, on its timeout, or on
/// cancellation. A wake with nobody waiting is kept for the next wait.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait a timeout belongs to: a timer of an earlier wait must not end a later one.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func wait(upToMs milliseconds: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let generation = state.withLock { s -> UInt64? in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return nil
                    }
                    s.generation += 1
                    s.waiter = continuation
                    return s.generation
                }
                guard let generation else { return continuation.resume() }
                Task {
                    try? await Task.sleep(for: .milliseconds(milliseconds))
                    self.timeOut(generation)
                }
            }
        } onCancel: {
            wake()
        }
    }

    private func timeOut(_ generation: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.generation == generation, let waiter = s.waiter else { return nil }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
