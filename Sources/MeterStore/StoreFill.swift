import Synchronization

/// How much of its byte budget the store uses, as of its last append or delete: readable from
/// any task without a trip to the store thread (the poller asks before every poll).
public final class StoreFill: Sendable {
    private let state = Mutex((used: Int64(0), budget: Int64(1)))

    init() {}

    /// Bytes of database pages in use, and what they may take before the store evicts.
    public var bytes: (used: Int64, budget: Int64) { state.withLock { $0 } }

    /// The share of the budget in use, 0…1 (more right after an append that is about to evict).
    public var fraction: Double {
        let (used, budget) = bytes
        return Double(used) / Double(max(budget, 1))
    }

    func update(used: Int64, budget: Int64) {
        state.withLock { $0 = (used, budget) }
    }
}
