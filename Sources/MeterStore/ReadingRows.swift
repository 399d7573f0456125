import MeterCore
import MeterProtocols

/// How a reading is kept in a compact row and made into its JSON again: the text `Reading.json`
/// writes (`KnownSeries`), so the uplink sends what the agent stored before version 5 — keys,
/// order, number formatting (`CompactReadingTests` compares the two for every kind of value).
///
/// A row holds the series id, the timestamp (`created_ms`), the value and a quality code:
/// - exact decimal: its significand as an INTEGER, the exponent in the series (`12345.67` is
///   1234567 with exponent −2, so `12345.670` stays apart as 12345670 with −3);
/// - double: REAL, the same 8 bytes; a non-finite one as NULL, written `null` like today;
/// - bool: INTEGER 0 or 1 (no bytes at all: SQLite has record types for the constants 0 and 1);
/// - no value: NULL.
enum ReadingRows {
    enum ValueType: Int64 {
        case none = 0, decimal = 1, real = 2, bool = 3
    }

    /// Roughly what a compact row holds besides SQLite's own overhead: a 6-byte timestamp, the
    /// series id, a value of up to 8 bytes. What `buffer stats` counts as a reading's bytes.
    static let valueBytes = 16

    /// About what a reading row takes on disk: record header, rowid, cell pointer and values.
    static let estimatedRowBytes = 26

    /// Readings one INSERT statement writes (the rest of a batch go one by one): SQLite's work per
    /// statement run — cursor, transaction check, halt, reset — is then paid once for them, which
    /// is about half of what a one-row insert costs.
    static let rowsPerInsert = 64
    static let parametersPerRow = 5

    /// The qualities without a code byte; `exception` and `meter_error` put theirs in the low byte.
    private static let plainQualities: [(code: Int64, quality: Quality)] = [
        (0, .good), (1, .timeout), (2, .crcError), (3, .invalidValue), (4, .busError), (5, .backoff),
    ]
    private static let exceptionBase: Int64 = 0x100
    private static let meterErrorBase: Int64 = 0x200

    /// Good is 0, which SQLite stores in no bytes.
    static func code(_ quality: Quality) -> Int64 {
        switch quality {
        case .good: 0
        case .timeout: 1
        case .crcError: 2
        case .invalidValue: 3
        case .busError: 4
        case .backoff: 5
        case let .exception(code): exceptionBase | Int64(code)
        case let .meterError(bits): meterErrorBase | Int64(bits)
        }
    }

    static func quality(code: Int64) -> Quality? {
        if let plain = plainQualities.first(where: { $0.code == code }) { return plain.quality }
        guard let byte = UInt8(exactly: code & 0xFF) else { return nil }
        switch code & ~0xFF {
        case exceptionBase: return .exception(byte)
        case meterErrorBase: return .meterError(byte)
        default: return nil
        }
    }

    /// A row's value column as read: NULL, or read as the series' value type says (a real for
    /// `.real`, an integer for the others).
    enum StoredValue {
        case null
        case integer(Int64)
        case real(Double)
    }

    /// The JSON of a compact reading row: its series (nil when the file has no such series), value
    /// column and quality code. Everything here comes from the file, which may be damaged: a
    /// quality code, series or decimal exponent no agent writes makes the record `unreadable_reading`
    /// (it still goes out, marked, rather than never), never a trap.
    static func json(series row: KnownSeries?, seriesID: Int64, value stored: StoredValue, qualityCode: Int64, ts: Int64) -> String {
        // An exponent beyond what the text parser accepts (which is all an agent writes) would make
        // the decimal's text a string of that many zeros (found by the store-record fuzz target).
        guard let row, let quality = Self.quality(code: qualityCode),
              (-Int64(ExactDecimal.maxExponent)...Int64(ExactDecimal.maxExponent)).contains(row.series.exponent) else {
            return "{\"unreadable_reading\":{\"series\":\(seriesID),\"quality\":\(qualityCode),\"ts\":\(ts)}}"
        }
        var value: MeterValue?
        switch (row.series.valueType, stored) {
        case let (.decimal, .integer(integer)): value = .decimal(ExactDecimal(significand: integer, exponent: Int(row.series.exponent)))
        case let (.real, .real(real)): value = .real(real)
        case let (.real, .integer(integer)): value = .real(Double(integer))
        case let (.bool, .integer(integer)): value = .bool(integer != 0)
        case let (.decimal, .real(real)), let (.bool, .real(real)): value = .real(real)
        case (_, .null), (.none, _): value = nil
        }
        return row.json(value: value, ts: ts, quality: quality)
    }

    /// The `outbox` view's payload column for table alias `o` joined with `series` as `s`: the
    /// JSON of a payload row as it is, a reading's put together as `Reading.json` writes it.
    static let payloadSQL: String = {
        let zeros = String(repeating: "0", count: ExactDecimal.maxExponent)
        // At least one digit before the point: 5 with exponent −2 is 005, written 0.05.
        let padded = "printf('%0*d', 1 - s.exponent, abs(o.value))"
        let decimal = "CASE WHEN s.exponent >= 0 THEN CASE WHEN o.value = 0 THEN '0' ELSE o.value || substr('\(zeros)', 1, s.exponent) END"
            + " ELSE iif(o.value < 0, '-', '') || substr(\(padded), 1, length(\(padded)) + s.exponent) || '.'"
            + " || substr(\(padded), length(\(padded)) + s.exponent + 1) END"
        let value = "CASE WHEN o.value IS NULL THEN NULL WHEN s.value_type = \(ValueType.decimal.rawValue) THEN json(\(decimal))"
            + " WHEN s.value_type = \(ValueType.bool.rawValue) THEN json(iif(o.value, 'true', 'false')) ELSE o.value END"
        let quality = "CASE o.quality " + plainQualities.map { "WHEN \($0.code) THEN '\($0.quality)' " }.joined()
            + "ELSE CASE o.quality >> 8 WHEN \(exceptionBase >> 8) THEN 'exception(' || (o.quality & 255) || ')'"
            + " WHEN \(meterErrorBase >> 8) THEN 'meter_error(' || (o.quality & 255) || ')' END END"
        return "CASE WHEN o.series IS NULL THEN o.payload ELSE json_object('device', s.device, 'point', s.point, 'value', \(value),"
            + " 'unit', s.unit, 'ts', o.created_ms, 'quality', \(quality), 'billing', json(iif(s.billing, 'true', 'false'))) END"
    }()
}

/// What a reading's JSON repeats from poll to poll: one row of `series`.
struct ReadingSeries: Hashable {
    var device: String
    var point: String
    var unit: String
    var billing: Bool
    var valueType: ReadingRows.ValueType
    /// The exponent of an exact decimal; 0 for other values.
    var exponent: Int64

    init(device: String, point: String, unit: String, billing: Bool, valueType: ReadingRows.ValueType, exponent: Int64) {
        self.device = device
        self.point = point
        self.unit = unit
        self.billing = billing
        self.valueType = valueType
        self.exponent = exponent
    }

    init(_ reading: Reading) {
        let (type, exponent): (ReadingRows.ValueType, Int64) = switch reading.value {
        case nil: (.none, 0)
        case let .decimal(d)?: (.decimal, Int64(d.exponent))
        case .real?: (.real, 0)
        case .bool?: (.bool, 0)
        }
        self.init(device: reading.device.rawValue, point: reading.point.rawValue, unit: reading.unit, billing: reading.billing,
                  valueType: type, exponent: exponent)
    }
}

/// A series as the cache holds it, with the parts of `Reading.json` its readings repeat, written
/// once: a replay writes the JSON of every stored reading again, and escaping the names each time
/// would cost more than reading the row. A class: looked up for every row read, and one retain is
/// cheaper than copying six strings.
final class KnownSeries {
    let series: ReadingSeries
    /// `{"device":"flat-301","point":"energy.import.total","value":`
    private let head: String
    /// `,"unit":"kWh","ts":`
    private let unit: String
    /// `,"billing":true}`
    private let tail: String

    init(_ series: ReadingSeries) {
        self.series = series
        // The same writer calls as `Reading.json`.
        var w = JSONWriter()
        w.raw("{\"device\":"); w.string(series.device)
        w.raw(",\"point\":"); w.string(series.point)
        w.raw(",\"value\":")
        head = w.text
        w = JSONWriter()
        w.raw(",\"unit\":"); w.string(series.unit)
        w.raw(",\"ts\":")
        unit = w.text
        w = JSONWriter()
        w.raw(",\"billing\":"); w.bool(series.billing)
        w.raw("}")
        tail = w.text
    }

    /// `Reading.json` of a reading of this series (`JSONWriter.value` writes a value as its
    /// `description`, none as `null`; a quality's text never needs escaping, `quoted` does it anyway).
    func json(value: MeterValue?, ts: Int64, quality: Quality) -> String {
        let valueText = value?.description ?? "null"
        let qualityText = JSONWriter.quoted(quality.description)
        var text = head
        text.reserveCapacity(head.utf8.count + valueText.utf8.count + unit.utf8.count + 20 + 11 + qualityText.utf8.count + tail.utf8.count)
        text += valueText
        text += unit
        text += String(ts)
        text += ",\"quality\":"
        text += qualityText
        text += tail
        return text
    }
}

/// The `series` table in memory, on the store thread: a reading finds its id without a query,
/// a row read back finds its names.
struct SeriesCache {
    private var ids: [ReadingSeries: Int64] = [:]
    private var byID: [Int64: KnownSeries] = [:]
    /// Ids only grow (rowids of a table whose rows are never deleted): what is newer than this is
    /// not loaded yet.
    private(set) var highestID: Int64 = 0

    func id(of series: ReadingSeries) -> Int64? { ids[series] }

    func series(_ id: Int64) -> KnownSeries? { byID[id] }

    mutating func add(_ series: ReadingSeries, id: Int64) {
        ids[series] = id
        byID[id] = KnownSeries(series)
        highestID = max(highestID, id)
    }

    /// Forgets the series a rolled-back transaction had added.
    mutating func forget(after id: Int64) {
        guard highestID > id else { return }
        for (key, value) in byID where key > id {
            byID[key] = nil
            ids[value.series] = nil
        }
        highestID = id
    }
}

extension OutboxEngine {
    /// Loads the series the cache does not have yet (all of them on open; a reader next to the
    /// running agent also those the agent has added since).
    func loadSeries() throws(StoreError) {
        let s = try statement(OutboxSchema.loadSeries, "load series")
        defer { s.reset() }
        try s.bind(series.highestID, at: 1)
        while try s.step() {
            let type = ReadingRows.ValueType(rawValue: s.int64(5)) ?? .none
            series.add(ReadingSeries(device: s.text(1), point: s.text(2), unit: s.text(3), billing: s.int64(4) != 0,
                                     valueType: type, exponent: s.int64(6)), id: s.int64(0))
        }
    }

    /// The series id of `reading`, adding the series in the caller's transaction if it is new.
    func seriesID(of reading: Reading) throws(StoreError) -> Int64 {
        let key = ReadingSeries(reading)
        if let id = series.id(of: key) { return id }
        let s = try statement(OutboxSchema.insertSeries, "append")
        try s.bind(key.device, at: 1)
        try s.bind(key.point, at: 2)
        try s.bind(key.unit, at: 3)
        try s.bind(key.billing ? 1 : 0, at: 4)
        try s.bind(key.valueType.rawValue, at: 5)
        try s.bind(key.exponent, at: 6)
        try s.run()
        let id = try lastInsertRowID()
        series.add(key, id: id)
        return id
    }

    /// Binds a reading as row `row` of an `insertReadings` statement.
    func bindReading(_ reading: Reading, seq: UInt64, to s: SQLiteStatement, row: Int) throws(StoreError) {
        let p = Int32(row * ReadingRows.parametersPerRow)
        try s.bind(Int64(seq), at: p + 1)
        // Its timestamp is its `created_ms` (the reading's own, which is what `createdMs` of a
        // reading record is).
        try s.bind(reading.timestampMs, at: p + 2)
        try s.bind(try seriesID(of: reading), at: p + 3)
        switch reading.value {
        case let .decimal(d)?: try s.bind(d.significand, at: p + 4)
        case let .real(r)? where r.isFinite: try s.bindReal(r, at: p + 4)
        case let .bool(b)?: try s.bind(b ? 1 : 0, at: p + 4)
        case .real?, nil: try s.bindNull(at: p + 4)
        }
        try s.bind(ReadingRows.code(reading.quality), at: p + 5)
    }

    /// The JSON of a compact row read by `inOrderFrom` (series in column 5, value 6, quality 7).
    func readingJSON(_ s: SQLiteStatement, seriesID: Int64, ts: Int64) throws(StoreError) -> String {
        if series.series(seriesID) == nil { try loadSeries() }
        let row = series.series(seriesID)
        let value: ReadingRows.StoredValue = s.isNull(6) ? .null : row?.series.valueType == .real ? .real(s.double(6)) : .integer(s.int64(6))
        return ReadingRows.json(series: row, seriesID: seriesID, value: value, qualityCode: s.int64(7), ts: ts)
    }
}
