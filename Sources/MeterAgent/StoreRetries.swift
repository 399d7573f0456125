import MeterStore

/// Runs a store write with a few tries: a store that refuses for a moment (a full queue, a full
/// disk being cleaned) gets 5 in all, 200 ms × the attempt number apart; a closed store gets no
/// more. Returns nil once `write` succeeded, else its last error. For writes that must not be lost
/// while the gateway is alive: command results (with the account of a credit).
func withStoreRetries(_ write: () async throws(StoreError) -> Void) async -> StoreError? {
    var attempt = 1
    while true {
        do {
            try await write()
            return nil
        } catch {
            guard attempt < 5, error.kind != .closed else { return error }
            try? await Task.sleep(for: .milliseconds(200 * attempt))
            attempt += 1
        }
    }
}
