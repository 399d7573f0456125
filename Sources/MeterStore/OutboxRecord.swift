import MeterCore

extension RecordKind {
    /// Stored as a small integer: one byte per row instead of a string.
    var code: Int64 {
        switch self {
        case .reading: 0
        case .event: 1
        case .commandResult: 2
        }
    }

    init?(code: Int64) {
        switch code {
        case 0: self = .reading
        case 1: self = .event
        case 2: self = .commandResult
        default: return nil
        }
    }
}

/// Eviction classes. A full store gives up class 2 first, then class 1; class 0 is never evicted to
/// make room for records of a lower class.
public enum RecordPriority {
    /// Command results and alarms.
    public static let critical: UInt8 = 0
    /// Billing registers (energy, volume totals).
    public static let billing: UInt8 = 1
    /// Instantaneous values (voltage, flow rate).
    public static let instantaneous: UInt8 = 2

    public static let classes: ClosedRange<UInt8> = 0...2
}

/// A record to append. `payload` is one JSON object without `"seq"`: the store assigns the
/// sequence number and the forwarder writes it into the message.
///
/// A reading waits for its commit as the reading itself and is stored as a compact row (see
/// `ReadingRows`); its JSON is built only when it is read out for the uplink. A queued reading
/// takes less than half the memory of its JSON text, and a gateway polling a hundred meters
/// queues a thousand of them.
public struct OutboxRecord: Sendable, Hashable {
    public var kind: RecordKind
    /// 0 command results and alarms, 1 billing, 2 instantaneous (see `RecordPriority`).
    public var priority: UInt8
    /// Milliseconds since the Unix epoch, UTC.
    public var createdMs: Int64
    private var body: Body

    private enum Body: Sendable, Hashable {
        case json(String)
        case reading(Reading)
    }

    public init(kind: RecordKind, priority: UInt8, createdMs: Int64, payload: String) {
        self.kind = kind
        self.priority = min(priority, RecordPriority.classes.upperBound)
        self.createdMs = createdMs
        body = .json(payload)
    }

    /// An event (`<prefix>/events`): class 0, never evicted to make room for readings.
    public static func event(json: String, ts: Int64) -> OutboxRecord {
        OutboxRecord(kind: .event, priority: RecordPriority.critical, createdMs: ts, payload: json)
    }

    /// A reading: class 1 for billing registers and 2 for everything else, whatever its quality.
    public init(reading: Reading) {
        self.init(reading, body: .reading(reading))
    }

    /// A reading whose JSON is not `Reading.json` (a command's read-back carries the command id):
    /// kept as that text.
    public init(reading: Reading, json: String) {
        self.init(reading, body: .json(json))
    }

    private init(_ reading: Reading, body: Body) {
        kind = .reading
        priority = reading.billing ? RecordPriority.billing : RecordPriority.instantaneous
        createdMs = reading.timestampMs
        self.body = body
    }

    /// The JSON object; built on each call for a reading.
    public var payload: String {
        switch body {
        case let .json(text): text
        case let .reading(reading): reading.json
        }
    }

    /// A record stored as a compact row (`reading` is not nil).
    var isReading: Bool {
        if case .reading = body { return true }
        return false
    }

    /// The reading of a record stored as a compact row; nil for one stored as its JSON payload.
    var reading: Reading? {
        if case let .reading(reading) = body { return reading }
        return nil
    }

    /// About how many bytes the record's row takes on disk, without building anything: what the
    /// store budgets room by. A payload row is its text plus ~24 bytes of header, rowid, kind and
    /// timestamp.
    var estimatedRowBytes: Int {
        switch body {
        case let .json(text): text.utf8.count + 24
        case .reading: ReadingRows.estimatedRowBytes
        }
    }
}

/// A record as stored, with its gateway-wide sequence number.
public struct StoredRecord: Sendable, Hashable {
    public var seq: UInt64
    public var kind: RecordKind
    public var priority: UInt8
    public var createdMs: Int64
    public var payload: String

    public init(seq: UInt64, kind: RecordKind, priority: UInt8, createdMs: Int64, payload: String) {
        self.seq = seq
        self.kind = kind
        self.priority = priority
        self.createdMs = createdMs
        self.payload = payload
    }

    /// The payload with `"seq"` as its first member: `{"seq":42,"device":…}`.
    public var jsonWithSeq: String { Self.insert("\"seq\":\(seq)", into: payload) }

    /// The line `meteragent buffer export` prints: seq, kind and class, then the payload's members.
    public var exportLine: String {
        Self.insert("\"seq\":\(seq),\"kind\":\"\(kind.rawValue)\",\"class\":\(priority)", into: payload)
    }

    /// Puts `members` right after the payload's opening brace.
    static func insert(_ members: String, into payload: String) -> String {
        var body = Substring(payload)
        while let first = body.first, first == " " || first == "\n" || first == "\t" { body = body.dropFirst() }
        guard body.first == "{" else { return "{" + members + ",\"payload\":" + JSONWriter.quoted(payload) + "}" }
        body = body.dropFirst()
        var rest = body
        while let first = rest.first, first == " " || first == "\n" || first == "\t" { rest = rest.dropFirst() }
        return "{" + members + (rest.first == "}" ? "" : ",") + body
    }
}

/// What `meteragent buffer stats` shows.
public struct BufferStats: Sendable, Hashable {
    public struct ClassStats: Sendable, Hashable {
        public var records: Int
        /// Payload bytes (the JSON text of events and results, `ReadingRows.valueBytes` per compact
        /// reading); pages on disk add SQLite's per-row overhead.
        public var bytes: Int64
        public var oldestSeq: UInt64?
    }

    /// Indexed by class: `perClass[0]` … `perClass[2]`.
    public var perClass: [ClassStats]
    public var oldestSeq: UInt64?
    public var newestSeq: UInt64?
    /// The number the next record will get.
    public var nextSeq: UInt64
    /// Records evicted so far (over the store's lifetime), by class.
    public var droppedPerClass: [UInt64]
    /// Database pages that hold data.
    public var usedBytes: Int64
    /// Database file plus write-ahead log, as they take space on the medium.
    public var totalBytes: Int64
    /// The byte budget the writer was configured with (0 when unknown).
    public var maxBytes: Int64

    public var records: Int { perClass.reduce(0) { $0 + $1.records } }
    public var dropped: UInt64 { droppedPerClass.reduce(0, +) }
}
