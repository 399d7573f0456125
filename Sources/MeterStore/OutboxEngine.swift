import CSQLite
import MeterCore

/// How a store is opened.
public struct StoreOptions: Sendable {
    public var sync: StoreSync
    /// `meteragent buffer …` opens the agent's live store read-only, next to the writer (WAL lets
    /// readers in while the agent writes).
    public var readOnly: Bool
    /// How long a connection waits for another one's lock before `busy`.
    public var busyTimeoutMs: Int32
    /// `PRAGMA max_page_count`: makes SQLite report a full disk at that many pages. For tests.
    public var pageLimit: Int?

    public init(sync: StoreSync = .full, readOnly: Bool = false, busyTimeoutMs: Int32 = 5000, pageLimit: Int? = nil) {
        self.sync = sync
        self.readOnly = readOnly
        self.busyTimeoutMs = busyTimeoutMs
        self.pageLimit = pageLimit
    }

    public static let readOnly = StoreOptions(readOnly: true)
}

/// The outbox's logic on the store thread: the SQLite connection, the sequence counter, eviction
/// and recovery. Confined to that thread (not `Sendable`); `OutboxStore` is its public face.
final class OutboxEngine {
    let path: String
    let options: StoreOptions
    let maxBytes: Int64
    private let log: Log
    private var connection: SQLiteConnection?
    private var statements: [String: SQLiteStatement] = [:]
    /// The insert statements by class, at hand without a lookup: `append` runs them for every
    /// record. Readings go `ReadingRows.rowsPerInsert` at a time, what is left of a batch one by one.
    private var payloadInserts: [SQLiteStatement] = []
    private var readingInserts: [SQLiteStatement] = []
    private var manyReadingInserts: [SQLiteStatement] = []
    /// The `series` table as far as it is loaded.
    var series = SeriesCache()
    /// The file has compact reading rows (version 5 on): always for the writer, which upgrades
    /// older files; a reader may look at a version 4 file the agent has not opened yet.
    private var compactReadings = true
    private var pageSize: Int64 = 4096
    /// The number the next record gets; persisted in `meta` in the same transaction as the records.
    private var nextSeq: UInt64 = 1
    /// The highest sequence number `oldest` has handed to the forwarder: records up to here may be
    /// in flight, so they are never rewritten.
    private var handedOutThrough: UInt64 = 0
    /// The `buffer.dropped` event of the current overflow, while the forwarder has not taken it:
    /// later evictions update it instead of piling up one event per batch in class 0.
    private var openDrop: (seq: UInt64, classes: [UInt8: DroppedRange])?
    private var lastEvictionLogMs: Int64 = 0
    private var unloggedDrops: UInt64 = 0

    /// Part of the budget kept for the write-ahead log: it is checkpointed at this size and
    /// truncated back to it, so database pages may use the rest.
    var walAllowance: Int64 {
        let allowance = min(max(maxBytes / 8, 16 * pageSize), 4 << 20)
        return (allowance / pageSize) * pageSize
    }

    /// Checkpoint after this many WAL pages: half the allowance, so that the pages of the commit
    /// that crosses the mark still fit (each WAL frame is a page plus a 24-byte header).
    var checkpointPages: Int64 { max(4, walAllowance / (pageSize + 24) / 2) }

    /// What the database's pages in use may take. One page less than the rest of the budget: the
    /// file also holds the pages on SQLite's free list, and right after an eviction the last
    /// freed page may still be there when the file is measured.
    var dataBudget: Int64 { max(maxBytes - walAllowance - pageSize, 8 * pageSize) }

    /// Published after every append and delete, for `OutboxStore.fill`.
    private let fill: StoreFill

    init(path: String, maxBytes: Int64, options: StoreOptions, log: Log, fill: StoreFill = StoreFill()) throws(StoreError) {
        self.fill = fill
        self.path = path
        self.maxBytes = maxBytes
        self.options = options
        self.log = log
        if options.readOnly {
            guard StoreFiles.exists(path) else {
                throw StoreError(.open, path: path, operation: "open", message: "no store at this path")
            }
            let db = try SQLiteConnection(path: path, readOnly: true)
            db.setBusyTimeout(ms: options.busyTimeoutMs)
            compactReadings = try Self.checkSchema(db, allowCreate: false) >= OutboxSchema.compactReadingsVersion
            connection = db
            pageSize = try db.integer("PRAGMA page_size", "open") ?? 4096
            nextSeq = UInt64(try readMeta("next_seq") ?? 1)
            if compactReadings { try loadSeries() }
            return
        }
        StoreFiles.makeDirectories(StoreFiles.directory(of: path))
        do {
            try openWriter()
        } catch let error where error.kind == .corrupt {
            try recover(reason: error.message, knownNextSeq: nil)
        }
        try publishFill()
    }

    deinit { close() }

    func close() {
        // Statements keep their connection open: they go first, so that recovery can move the file.
        statements.removeAll()
        payloadInserts.removeAll()
        readingInserts.removeAll()
        manyReadingInserts.removeAll()
        series = SeriesCache()
        connection = nil
    }

    // MARK: - Opening

    private func db() throws(StoreError) -> SQLiteConnection {
        guard let connection else { throw StoreError(.closed, path: path, operation: "use", message: "store is closed") }
        return connection
    }

    func statement(_ sql: String, _ operation: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let prepared = try db().prepare(sql, operation)
        statements[sql] = prepared
        return prepared
    }

    private func openWriter() throws(StoreError) {
        let db = try SQLiteConnection(path: path, readOnly: false)
        db.setBusyTimeout(ms: options.busyTimeoutMs)
        // The first statement that reads the header: a file that is not a database fails here.
        let mode = try db.text("PRAGMA journal_mode = WAL", "open")
        guard mode?.lowercased() == "wal" else {
            throw StoreError(.other, path: path, operation: "open", message: "cannot switch to WAL mode (journal_mode is \(mode ?? "?"))")
        }
        // FULL: the WAL is fsynced at every commit, so "stored" survives a power cut as well as
        // kill -9. NORMAL survives kill -9 but may lose the last commits on power loss.
        try db.execute("PRAGMA synchronous = \(options.sync == .full ? "FULL" : "NORMAL")", "open")
        _ = try Self.checkSchema(db, allowCreate: true)
        if let limit = options.pageLimit {
            _ = try db.integer("PRAGMA max_page_count = \(limit)", "open")
        }
        pageSize = try db.integer("PRAGMA page_size", "open") ?? 4096
        // A small page cache (32 pages): the store is written at the right edge and read at the
        // left one, so a larger cache would only hold pages that are never read again.
        try db.execute("PRAGMA cache_size = -128", "open")
        try db.execute("PRAGMA wal_autocheckpoint = \(checkpointPages)", "open")
        try db.execute("PRAGMA journal_size_limit = \(walAllowance)", "open")
        connection = db
        payloadInserts = try RecordPriority.classes.map { (priority) throws(StoreError) in try db.prepare(OutboxSchema.insert(priority), "append") }
        readingInserts = try RecordPriority.classes.map { (priority) throws(StoreError) in
            try db.prepare(OutboxSchema.insertReadings(priority, rows: 1), "append")
        }
        manyReadingInserts = try RecordPriority.classes.map { (priority) throws(StoreError) in
            try db.prepare(OutboxSchema.insertReadings(priority, rows: ReadingRows.rowsPerInsert), "append")
        }
        try loadSeries()
        nextSeq = UInt64(try readMeta("next_seq") ?? 1)
        if try readMeta("max_bytes") != maxBytes {
            try writeMeta("max_bytes", maxBytes)
        }
    }

    /// Recognises our own file, creates the tables in an empty one, refuses everything else as
    /// `.corrupt` (which moves it aside). Returns the schema version the file now has.
    private static func checkSchema(_ db: SQLiteConnection, allowCreate: Bool) throws(StoreError) -> Int64 {
        // One transaction (a write lock for the writer), so that a file another process is
        // creating at this moment is seen whole or not at all — never as "someone else's database".
        try db.execute(allowCreate ? "BEGIN IMMEDIATE" : "BEGIN", "open")
        let version: Int64
        do {
            version = try recognise(db, allowCreate: allowCreate)
            try db.execute("COMMIT", "open")
        } catch {
            if !db.isAutocommit { try? db.execute("ROLLBACK", "open") }
            throw error
        }
        // The writer catches damaged pages now rather than in the middle of a commit; this reads
        // the whole file once at start. Readers (`meteragent buffer`) skip it.
        guard allowCreate else { return version }
        let check = try db.text("PRAGMA quick_check(1)", "open") ?? "?"
        guard check == "ok" else {
            throw StoreError(.corrupt, path: db.path, operation: "open", message: "integrity check failed: \(check)")
        }
        return version
    }

    private static func recognise(_ db: SQLiteConnection, allowCreate: Bool) throws(StoreError) -> Int64 {
        let application = try db.integer("PRAGMA application_id", "open") ?? 0
        let version = try db.integer("PRAGMA user_version", "open") ?? 0
        let objects = try db.integer("SELECT count(*) FROM sqlite_master", "open") ?? 0
        if application == 0 && version == 0 && objects == 0 {
            guard allowCreate else {
                throw StoreError(.corrupt, path: db.path, operation: "open", message: "empty database, not an outbox yet")
            }
            try db.execute(OutboxSchema.create, "create")
            return OutboxSchema.version
        }
        guard application == OutboxSchema.applicationID else {
            throw StoreError(.corrupt, path: db.path, operation: "open",
                             message: "not a MeterAgent outbox (application_id \(application), \(objects) schema objects)")
        }
        guard version <= OutboxSchema.version else {
            throw StoreError(.corrupt, path: db.path, operation: "open",
                             message: "outbox schema version \(version) is newer than this agent's (\(OutboxSchema.version))")
        }
        // A version 1 store (before the command log), 2 (before the prepaid accounts), 3 (before
        // the card tables) or 4 (before compact readings) keeps its records: the writer adds the
        // tables and columns it lacks; a reader reads it as it is.
        let upgrades = [1: OutboxSchema.upgradeFrom1, 2: OutboxSchema.upgradeFrom2, 3: OutboxSchema.upgradeFrom3,
                        4: OutboxSchema.upgradeFrom4]
        if let upgrade = upgrades[Int(version)] {
            guard allowCreate else { return version }
            try db.execute(upgrade, "upgrade")
            return OutboxSchema.version
        }
        guard version == OutboxSchema.version else {
            throw StoreError(.corrupt, path: db.path, operation: "open", message: "unknown outbox schema version \(version)")
        }
        return version
    }

    /// Moves a corrupt or incompatible file aside, starts a new store and records a
    /// `store.recovered` event in it. Sequence numbers continue from the old store's counter when
    /// it can still be read (or from memory, mid-run); otherwise from the wall clock in
    /// microseconds, which lies above any number the old store can have handed out.
    private func recover(reason: String, knownNextSeq: UInt64?) throws(StoreError) {
        close()
        let now = WallClock.nowMs()
        let aside = try StoreFiles.moveAside(path, now: now).get()
        var seqSource = "memory"
        var floor = knownNextSeq ?? 0
        if knownNextSeq == nil {
            if let salvaged = Self.salvageNextSeq(aside) {
                floor = salvaged
                seqSource = "salvaged"
            } else {
                floor = UInt64(max(1, now)) * 1000
                seqSource = "clock"
            }
        }
        try openWriter()
        if floor > nextSeq {
            nextSeq = floor
            try writeMeta("next_seq", Int64(nextSeq))
        }
        let accounts = Self.salvagePrepaid(aside)
        for account in accounts { try savePrepaid(account) }
        let cards = Self.salvageCards(aside)
        if let list = cards.list, list.version > 0 { try apply(.replace(version: list.version, cards: list.sortedEntries)) }
        for session in cards.sessions { try saveCardSession(session) }
        var salvaged: [String] = []
        if !accounts.isEmpty { salvaged.append("\(accounts.count) prepaid accounts") }
        if let list = cards.list, list.version > 0 { salvaged.append("card list version \(list.version)") }
        if !cards.sessions.isEmpty { salvaged.append("\(cards.sessions.count) card sessions") }
        log.warning("store \(path): \(reason); moved it to \(aside) and started a new store (next seq \(nextSeq), from \(seqSource)"
                    + (salvaged.isEmpty ? ")" : "; \(salvaged.joined(separator: ", ")) salvaged)"))
        _ = try append([StoreEvents.recovered(reason: reason, movedTo: aside, nextSeq: nextSeq, seqSource: seqSource, ts: now)])
    }

    /// The next sequence number of a store that was moved aside, if enough of it is readable.
    private static func salvageNextSeq(_ path: String) -> UInt64? {
        do throws(StoreError) {
            let db = try SQLiteConnection(path: path, readOnly: true)
            var best: Int64 = 0
            if let counter = try? db.integer("SELECT value FROM meta WHERE key = 'next_seq'", "salvage") { best = counter }
            for priority in RecordPriority.classes {
                if let highest = try? db.integer("SELECT max(seq) FROM \(OutboxSchema.table(priority))", "salvage") {
                    best = max(best, highest + 1)
                }
            }
            return best > 0 ? UInt64(best) : nil
        } catch {
            return nil
        }
    }

    // MARK: - Meta

    private func readMeta(_ key: String) throws(StoreError) -> Int64? {
        let s = try statement(OutboxSchema.readMeta, "read meta")
        try s.bind(key, at: 1)
        defer { s.reset() }
        return try s.step() ? s.int64(0) : nil
    }

    private func writeMeta(_ key: String, _ value: Int64) throws(StoreError) {
        let s = try statement(OutboxSchema.writeMeta, "write meta")
        try s.bind(key, at: 1)
        try s.bind(value, at: 2)
        try s.run()
    }

    // MARK: - Writing

    private func requireWritable(_ operation: String) throws(StoreError) {
        if options.readOnly { throw StoreError(.readOnly, path: path, operation: operation, message: "store opened read-only") }
    }

    /// Runs `body` in one write transaction; on any error rolls back, restores the in-memory state
    /// and, for a file found corrupt, recovers to a new store before throwing.
    func transaction<T>(_ operation: String, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try requireWritable(operation)
        let savedNext = nextSeq, savedDrop = openDrop, savedSeries = series.highestID
        // No local reference to the connection: recovery below must be able to close it before it
        // moves the file.
        do {
            try db().execute("BEGIN IMMEDIATE", operation)
            let result = try body()
            try db().execute("COMMIT", operation)
            return result
        } catch {
            // SQLite may already have rolled back by itself (SQLITE_FULL, I/O errors).
            if let connection, !connection.isAutocommit { try? connection.execute("ROLLBACK", operation) }
            nextSeq = savedNext
            openDrop = savedDrop
            series.forget(after: savedSeries)
            if error.kind == .corrupt {
                try recover(reason: error.message, knownNextSeq: nextSeq)
            }
            throw error
        }
    }

    /// Appends `records` in one transaction and returns their sequence numbers. Durable (per the
    /// sync policy) when it returns. Evicts by class when the budget is exceeded.
    func append(_ records: [OutboxRecord]) throws(StoreError) -> [UInt64] {
        guard !records.isEmpty else { return [] }
        return try transaction("append") { () throws(StoreError) -> [UInt64] in try appendInTransaction(records) }
    }

    /// `append`'s work inside a transaction the caller holds (the command log writes a result and
    /// its outbox record in one).
    func appendInTransaction(_ records: [OutboxRecord]) throws(StoreError) -> [UInt64] {
        guard !records.isEmpty else { return [] }
        var seqs: [UInt64] = []
        seqs.reserveCapacity(records.count)
        let rowEstimate = records.reduce(0) { $0 + Int64($1.estimatedRowBytes) } / Int64(records.count)
        let mostImportant = records.map(\.priority).min() ?? RecordPriority.instantaneous
        // Room first, so the batch reuses freed pages instead of growing the file past the
        // budget; then again, in case the estimate was short.
        var evicted = try evict(downTo: mostImportant, target: dataBudget - rowEstimate * Int64(records.count) * 5 / 4,
                                rowEstimate: rowEstimate)
        var start = records.startIndex
        while start < records.endIndex {
            // Consecutive readings of one class go in together; anything else alone.
            var end = start + 1
            if records[start].isReading {
                while end < records.endIndex, records[end].isReading, records[end].priority == records[start].priority { end += 1 }
                try insertReadings(records[start..<end], firstSeq: nextSeq)
            } else {
                try insert(records[start], seq: nextSeq)
            }
            for _ in start..<end {
                seqs.append(nextSeq)
                nextSeq += 1
            }
            start = end
        }
        for (priority, range) in try evict(downTo: mostImportant, target: dataBudget, rowEstimate: rowEstimate) {
            evicted[priority, default: DroppedRange()].merge(range)
        }
        if !evicted.isEmpty {
            try reportDrops(evicted)
            // Before the commit: a rolled-back append is rare, and the log line is then one too many.
            logEvictions(evicted)
        }
        try writeMeta("next_seq", Int64(nextSeq))
        try publishFill()
        return seqs
    }

    /// Measures the pages in use for `fill` (two pragmas, no page reads).
    private func publishFill() throws(StoreError) {
        fill.update(used: try usedBytes(), budget: dataBudget)
    }

    /// Readings of one class as compact rows, numbered from `firstSeq` on. Every record of
    /// `records` is a reading (`appendInTransaction` makes the runs).
    private func insertReadings(_ records: ArraySlice<OutboxRecord>, firstSeq: UInt64) throws(StoreError) {
        guard let first = records.first else { return }
        let priority = Int(min(first.priority, RecordPriority.classes.upperBound))
        var seq = firstSeq
        var index = records.startIndex
        while records.endIndex - index >= ReadingRows.rowsPerInsert {
            let s = manyReadingInserts[priority]
            for row in 0..<ReadingRows.rowsPerInsert {
                try bindReading(records[index + row].reading!, seq: seq + UInt64(row), to: s, row: row)
            }
            try s.run()
            index += ReadingRows.rowsPerInsert
            seq += UInt64(ReadingRows.rowsPerInsert)
        }
        let s = readingInserts[priority]
        for record in records[index...] {
            try bindReading(record.reading!, seq: seq, to: s, row: 0)
            try s.run()
            seq += 1
        }
    }

    /// A record as its JSON payload.
    private func insert(_ record: OutboxRecord, seq: UInt64) throws(StoreError) {
        let priority = Int(min(record.priority, RecordPriority.classes.upperBound))
        let s = payloadInserts[priority]
        try s.bind(Int64(seq), at: 1)
        try s.bind(record.kind.code, at: 2)
        try s.bind(record.createdMs, at: 3)
        try s.bind(record.payload, at: 4)
        try s.run()
    }

    func lastInsertRowID() throws(StoreError) -> Int64 { try db().lastInsertRowID }

    /// Database pages in use, in bytes: what the budget measures. Pages freed by deletes go to
    /// SQLite's free list and are reused before the file grows.
    func usedBytes() throws(StoreError) -> Int64 {
        (try pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pageSize
    }

    /// The first column of a one-row query (`PRAGMA page_count`, `SELECT changes()`).
    func pragma(_ sql: String) throws(StoreError) -> Int64 {
        let s = try statement(sql, "size")
        defer { s.reset() }
        return try s.step() ? s.int64(0) : 0
    }

    /// Deletes the oldest records of class 2, then 1, then 0 — but no class more important than
    /// `mostImportant`, the most important class being written — until the pages in use fit
    /// `target`. Records of the batch being written can go too, if nothing older of their class is
    /// left; they are counted like any other.
    private func evict(downTo mostImportant: UInt8, target: Int64, rowEstimate: Int64) throws(StoreError) -> [UInt8: DroppedRange] {
        let target = max(target, 8 * pageSize)
        var used = try usedBytes()
        guard used > target else { return [:] }
        var dropped: [UInt8: DroppedRange] = [:]
        var priority = RecordPriority.classes.upperBound
        while used > target {
            let over = used - target
            let rows = max(8, (over + rowEstimate - 1) / max(1, rowEstimate))
            // Records the forwarder holds in flight stay: they are about to be sent, and counting
            // them as dropped as well would report a loss that never happened.
            let inFlight = Int64(clamping: handedOutThrough)
            let span = try statement(OutboxSchema.oldestSpan(priority), "evict")
            try span.bind(rows, at: 1)
            try span.bind(inFlight, at: 2)
            let (count, first, last): (Int64, Int64, Int64) = try span.step() ? (span.int64(0), span.int64(1), span.int64(2)) : (0, 0, 0)
            span.reset()
            if count == 0 {
                guard priority > mostImportant else { break }
                priority -= 1
                continue
            }
            let delete = try statement(OutboxSchema.deleteThrough(priority), "evict")
            try delete.bind(last, at: 1)
            try delete.bind(inFlight, at: 2)
            try delete.run()
            dropped[priority, default: DroppedRange()].add(count: UInt64(count), first: UInt64(first), last: UInt64(last))
            used = try usedBytes()
        }
        return dropped
    }

    /// Adds the drops to the lifetime counters and to the open `buffer.dropped` event, or starts one.
    private func reportDrops(_ dropped: [UInt8: DroppedRange]) throws(StoreError) {
        for (priority, range) in dropped {
            let key = "dropped_\(priority)"
            try writeMeta(key, (try readMeta(key) ?? 0) + Int64(range.count))
        }
        let now = WallClock.nowMs()
        if let open = openDrop, open.seq > handedOutThrough {
            var classes = open.classes
            for (priority, range) in dropped { classes[priority, default: DroppedRange()].merge(range) }
            let event = StoreEvents.dropped(classes, reason: "budget", ts: now, maxBytes: maxBytes)
            let update = try statement(OutboxSchema.updatePayload, "evict")
            try update.bind(Int64(open.seq), at: 1)
            try update.bind(event.payload, at: 2)
            try update.run()
            if sqlite3_changes(try db().handle) == 1 {
                openDrop = (open.seq, classes)
                return
            }
        }
        let event = StoreEvents.dropped(dropped, reason: "budget", ts: now, maxBytes: maxBytes)
        try insert(event, seq: nextSeq)
        openDrop = (nextSeq, dropped)
        nextSeq += 1
    }

    /// One log line a minute at most while the store keeps evicting.
    private func logEvictions(_ dropped: [UInt8: DroppedRange]) {
        unloggedDrops += dropped.values.reduce(0) { $0 + $1.count }
        let now = WallClock.nowMs()
        guard now - lastEvictionLogMs >= 60_000 else { return }
        let detail = dropped.sorted { $0.key < $1.key }.map { "class \($0.key): \($0.value.count) (seq \($0.value.firstSeq ?? 0)..\($0.value.lastSeq ?? 0))" }
        log.warning("store \(path): byte budget \(maxBytes) reached; evicted \(unloggedDrops) records since the last report, latest \(detail.joined(separator: ", ")); reported as \(StoreEvents.droppedType) events")
        lastEvictionLogMs = now
        unloggedDrops = 0
    }

    /// Deletes records the broker has acknowledged. Unknown sequence numbers are ignored.
    /// Acknowledged records come in runs of consecutive numbers (a read's batches): one range
    /// delete per run and class instead of one per record and class.
    ///
    /// Committed without an fsync even with `sync: .full`: a delete lost in a power cut only sends
    /// its records once more (the head-end drops duplicates by seq), and the next commit's fsync
    /// makes it durable with that commit (the WAL is written in order). An fsync per acknowledged
    /// batch would otherwise set the pace of a replay.
    func delete(_ seqs: [UInt64]) throws(StoreError) {
        guard !seqs.isEmpty else { return }
        let runs = Self.runs(seqs.sorted())
        let relaxed = options.sync == .full && !options.readOnly
        if relaxed { try db().execute("PRAGMA synchronous = NORMAL", "delete") }
        let deleted = Result { () throws(StoreError) in
            try transaction("delete") { () throws(StoreError) in
                for priority in RecordPriority.classes {
                    let s = try statement(OutboxSchema.deleteThrough(priority), "delete")
                    for run in runs {
                        try s.bind(Int64(run.upperBound), at: 1)
                        try s.bind(Int64(run.lowerBound) - 1, at: 2)
                        try s.run()
                    }
                }
            }
            try publishFill()
        }
        // Back to FULL before anything else commits; a failure here fails the call rather than
        // leaving later appends unsynced.
        if relaxed { try db().execute("PRAGMA synchronous = FULL", "delete") }
        try deleted.get()
    }

    /// Sorted numbers as runs of consecutive ones.
    static func runs(_ sorted: [UInt64]) -> [ClosedRange<UInt64>] {
        var runs: [ClosedRange<UInt64>] = []
        for seq in sorted {
            if let last = runs.last, seq <= last.upperBound + 1 {
                runs[runs.count - 1] = last.lowerBound...max(last.upperBound, seq)
            } else {
                runs.append(seq...seq)
            }
        }
        return runs
    }

    // MARK: - Reading

    /// Records from `seq` on, in sequence order: at most `limit`, and at most `maxBytes` of payload
    /// (but always at least one record, however big).
    func records(from seq: UInt64, limit: Int, maxBytes: Int = .max) throws(StoreError) -> [StoredRecord] {
        guard limit > 0 else { return [] }
        let s = try statement(OutboxSchema.inOrderFrom(compact: compactReadings), "read")
        defer { s.reset() }
        try s.bind(Int64(clamping: seq), at: 1)
        try s.bind(Int64(limit), at: 2)
        var result: [StoredRecord] = []
        var bytes = 0
        while try s.step() {
            let payload = s.isNull(5) ? s.text(4) : try readingJSON(s, seriesID: s.int64(5), ts: s.int64(3))
            bytes += payload.utf8.count
            if !result.isEmpty && bytes > maxBytes { break }
            result.append(StoredRecord(seq: UInt64(s.int64(0)), kind: RecordKind(code: s.int64(1)) ?? .event,
                                       priority: UInt8(truncatingIfNeeded: s.int64(2)), createdMs: s.int64(3), payload: payload))
        }
        return result
    }

    /// What the forwarder sends next; remembers how far it has read.
    func oldest(after seq: UInt64, limit: Int, maxBytes: Int) throws(StoreError) -> [StoredRecord] {
        let batch = try records(from: seq &+ 1, limit: limit, maxBytes: maxBytes)
        if let last = batch.last?.seq { handedOutThrough = max(handedOutThrough, last) }
        return batch
    }

    func stats() throws(StoreError) -> BufferStats {
        var perClass: [BufferStats.ClassStats] = []
        var dropped: [UInt64] = []
        var oldest: UInt64?
        var newest: UInt64?
        let db = try db()
        // One read transaction, so the numbers belong together while the agent writes.
        let ownTransaction = db.isAutocommit
        if ownTransaction { try db.execute("BEGIN", "stats") }
        defer { if ownTransaction { try? db.execute("COMMIT", "stats") } }
        for priority in RecordPriority.classes {
            let s = try statement(OutboxSchema.classStats(priority, compact: compactReadings), "stats")
            guard try s.step() else { continue }
            let count = Int(s.int64(0))
            let classOldest = count > 0 ? UInt64(s.int64(2)) : nil
            if count > 0 {
                oldest = min(oldest ?? .max, UInt64(s.int64(2)))
                newest = max(newest ?? 0, UInt64(s.int64(3)))
            }
            perClass.append(.init(records: count, bytes: s.int64(1), oldestSeq: classOldest))
            s.reset()
            dropped.append(UInt64(max(0, try readMeta("dropped_\(priority)") ?? 0)))
        }
        let next = options.readOnly ? UInt64(try readMeta("next_seq") ?? 1) : nextSeq
        let budget = options.readOnly ? (try readMeta("max_bytes") ?? 0) : maxBytes
        return BufferStats(perClass: perClass, oldestSeq: oldest, newestSeq: newest, nextSeq: next,
                           droppedPerClass: dropped, usedBytes: try usedBytes(),
                           totalBytes: StoreFiles.size(path) + StoreFiles.size(path + "-wal"), maxBytes: budget)
    }

    // MARK: - Tests

    /// Lowers or raises `max_page_count` (a full disk on demand).
    func setPageLimit(_ pages: Int) throws(StoreError) {
        _ = try db().integer("PRAGMA max_page_count = \(pages)", "page limit")
    }

    /// Runs a checkpoint and truncates the WAL, as a long-running agent's autocheckpoint would.
    func checkpoint() throws(StoreError) {
        _ = try db().text("PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint")
    }
}
