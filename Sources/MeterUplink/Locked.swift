import Synchronization

/// State shared between libmosquitto's network thread (callbacks) and Swift tasks. Nothing in this
/// module calls into libmosquitto while holding the lock, so the library's own locks and ours never
/// nest the other way round.
final class Locked<State: Sendable>: Sendable {
    private let mutex: Mutex<State>

    init(_ state: State) { mutex = Mutex(state) }

    func withLock<Result: Sendable>(_ body: (inout State) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
