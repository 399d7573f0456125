import MeterCore

/// What was dropped in one class: how many, and the sequence range they came from.
/// Eviction takes the oldest records of a class first, so every dropped sequence number of the
/// class lies in `firstSeq...lastSeq`.
public struct DroppedRange: Sendable, Hashable {
    public var count: UInt64 = 0
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?

    public init(count: UInt64 = 0, firstSeq: UInt64? = nil, lastSeq: UInt64? = nil) {
        self.count = count
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
    }

    mutating func add(count: UInt64, first: UInt64?, last: UInt64?) {
        self.count += count
        if let first { firstSeq = min(firstSeq ?? first, first) }
        if let last { lastSeq = max(lastSeq ?? last, last) }
    }

    mutating func merge(_ other: DroppedRange) { add(count: other.count, first: other.firstSeq, last: other.lastSeq) }
}

/// The event records the store (and the agent's in-memory queue) write about themselves. Both are
/// class 0, so they are never evicted to make room for readings.
public enum StoreEvents {
    public static let droppedType = "buffer.dropped"
    public static let recoveredType = "store.recovered"

    /// `{"type":"buffer.dropped","ts":…,"reason":"budget","count":12,"first_seq":3,"last_seq":40,
    ///   "classes":{"2":{"count":12,"first_seq":3,"last_seq":40}},"max_bytes":1048576}`
    ///
    /// `reason` is `budget` for eviction from the store, `queue_full` for readings the agent could
    /// not hand to the store in time (those never had sequence numbers, so they carry no range).
    public static func dropped(_ classes: [UInt8: DroppedRange], reason: String, ts: Int64,
                               maxBytes: Int64? = nil) -> OutboxRecord {
        var total = DroppedRange()
        var parts: [String] = []
        for (priority, range) in classes.sorted(by: { $0.key < $1.key }) where range.count > 0 {
            total.merge(range)
            parts.append("\"\(priority)\":" + object(range))
        }
        var text = "{\"type\":\"\(droppedType)\",\"ts\":\(ts),\"reason\":" + JSONWriter.quoted(reason)
        text += "," + members(total)
        text += ",\"classes\":{" + parts.joined(separator: ",") + "}"
        if let maxBytes { text += ",\"max_bytes\":\(maxBytes)" }
        text += "}"
        return .event(json: text, ts: ts)
    }

    /// `{"type":"store.recovered","ts":…,"reason":"…","moved_to":"…","next_seq":…,"seq_source":"…"}`
    static func recovered(reason: String, movedTo: String, nextSeq: UInt64, seqSource: String, ts: Int64) -> OutboxRecord {
        let text = "{\"type\":\"\(recoveredType)\",\"ts\":\(ts),\"reason\":" + JSONWriter.quoted(reason)
            + ",\"moved_to\":" + JSONWriter.quoted(movedTo) + ",\"next_seq\":\(nextSeq),\"seq_source\":"
            + JSONWriter.quoted(seqSource) + "}"
        return .event(json: text, ts: ts)
    }

    private static func members(_ range: DroppedRange) -> String {
        var text = "\"count\":\(range.count)"
        if let first = range.firstSeq { text += ",\"first_seq\":\(first)" }
        if let last = range.lastSeq { text += ",\"last_seq\":\(last)" }
        return text
    }

    private static func object(_ range: DroppedRange) -> String { "{" + members(range) + "}" }
}
