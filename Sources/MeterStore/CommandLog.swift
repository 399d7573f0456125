import MeterCore

/// What the command log knew about an id when a command claimed it.
public enum CommandClaim: Sendable, Hashable {
    /// Never seen: the command is now recorded as running and may run, once.
    case fresh
    /// Seen before, with the result it got; nil when the agent stopped while running it.
    case seen(result: String?)
}

/// The command log (replay protection): head-end command ids with their result, persisted next to
/// the outbox until the command expires.
extension OutboxStore {
    /// Records `id` as running unless it is already known. One transaction, so two deliveries of
    /// one command can never both get `.fresh`.
    public func claimCommand(id: String, expiresAt: Int64, receivedMs: Int64) async throws(StoreError) -> CommandClaim {
        try await submit("claim command") { engine throws(StoreError) in
            try engine.claimCommand(id: id, expiresAt: expiresAt, receivedMs: receivedMs)
        }
    }

    /// Stores the result of a claimed command and queues `record` (its result message) in the
    /// outbox, in one transaction: a result is never stored without being sent, nor sent without
    /// being stored. Returns the record's sequence number.
    public func completeCommand(id: String, result record: OutboxRecord) async throws(StoreError) -> UInt64 {
        try await submit("complete command") { engine throws(StoreError) in
            try engine.completeCommand(id: id, record: record)
        }
    }

    /// Ids claimed but never completed: the agent stopped while running them.
    public func unfinishedCommands() async throws(StoreError) -> [String] {
        try await submit("unfinished commands") { engine throws(StoreError) in try engine.unfinishedCommands() }
    }

    /// Forgets commands that expired before `seconds` (Unix time): they can no longer be replayed,
    /// because an expired command is rejected before its id is looked up. Returns how many.
    public func pruneCommands(expiredBefore seconds: Int64) async throws(StoreError) -> Int {
        try await submit("prune commands") { engine throws(StoreError) in try engine.pruneCommands(expiredBefore: seconds) }
    }
}

extension OutboxEngine {
    func claimCommand(id: String, expiresAt: Int64, receivedMs: Int64) throws(StoreError) -> CommandClaim {
        try transaction("claim command") { () throws(StoreError) -> CommandClaim in
            let insert = try statement(OutboxSchema.claimCommand, "claim command")
            try insert.bind(id, at: 1)
            try insert.bind(expiresAt, at: 2)
            try insert.bind(receivedMs, at: 3)
            try insert.run()
            if try changes() == 1 { return .fresh }
            let select = try statement(OutboxSchema.commandResult, "claim command")
            defer { select.reset() }
            try select.bind(id, at: 1)
            guard try select.step() else { return .seen(result: nil) }
            return .seen(result: select.isNull(0) ? nil : select.text(0))
        }
    }

    func completeCommand(id: String, record: OutboxRecord) throws(StoreError) -> UInt64 {
        try transaction("complete command") { () throws(StoreError) -> UInt64 in
            try completeCommandInTransaction(id: id, record: record)
        }
    }

    /// `completeCommand`'s work inside a transaction the caller holds (a prepaid command also
    /// writes its account).
    func completeCommandInTransaction(id: String, record: OutboxRecord) throws(StoreError) -> UInt64 {
        let update = try statement(OutboxSchema.completeCommand, "complete command")
        try update.bind(id, at: 1)
        try update.bind(record.payload, at: 2)
        try update.run()
        return try appendInTransaction([record])[0]
    }

    func unfinishedCommands() throws(StoreError) -> [String] {
        let s = try statement(OutboxSchema.unfinishedCommands, "unfinished commands")
        defer { s.reset() }
        var ids: [String] = []
        while try s.step() { ids.append(s.text(0)) }
        return ids
    }

    func pruneCommands(expiredBefore seconds: Int64) throws(StoreError) -> Int {
        try transaction("prune commands") { () throws(StoreError) -> Int in
            let s = try statement(OutboxSchema.pruneCommands, "prune commands")
            try s.bind(seconds, at: 1)
            try s.run()
            return Int(try changes())
        }
    }

    /// Rows the last statement inserted, updated or deleted.
    private func changes() throws(StoreError) -> Int64 { try pragma("SELECT changes()") }
}
