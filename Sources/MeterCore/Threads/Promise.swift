import Synchronization

/// A value that arrives once, from whichever side is first: a dedicated thread's result, a
/// libmosquitto callback on the network thread, a timeout, or the cancellation of the task that
/// waits. Later fulfilments are ignored, so a PUBACK that races its timeout cannot resume a
/// continuation twice.
public final class Promise<Value: Sendable>: Sendable {
    private enum State: Sendable {
        case pending([CheckedContinuation<Value, Never>])
        case done(Value)
    }

    private let state = Mutex<State>(.pending([]))

    public init() {}

    /// Returns false when the promise already had a value.
    @discardableResult
    public func fulfill(_ value: Value) -> Bool {
        let waiters: [CheckedContinuation<Value, Never>]? = state.withLock { state in
            guard case let .pending(waiters) = state else { return nil }
            state = .done(value)
            return waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }

    public var current: Value? {
        state.withLock { state in
            if case let .done(value) = state { return value }
            return nil
        }
    }

    /// Waits for the value; cancelling the waiting task fulfils the promise with `onCancel`.
    public func value(onCancel: @autoclosure @escaping @Sendable () -> Value) async -> Value {
        await withTaskCancellationHandler {
            await settled()
        } onCancel: {
            fulfill(onCancel())
        }
    }

    /// Waits for the value whatever happens to the waiting task.
    public func settled() async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            let ready: Value? = state.withLock { state in
                switch state {
                case let .done(value): return value
                case var .pending(waiters):
                    waiters.append(continuation)
                    state = .pending(waiters)
                    return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Waits at most `timeoutMs`, then fulfils with `onTimeout`.
    public func value(timeoutMs: Int, onTimeout: Value, onCancel: @autoclosure @escaping @Sendable () -> Value) async -> Value {
        if let done = current { return done }
        let timer = Task { [self] in
            try await Task.sleep(for: .milliseconds(timeoutMs))
            fulfill(onTimeout)
        }
        defer { timer.cancel() }
        return await value(onCancel: onCancel())
    }
}
