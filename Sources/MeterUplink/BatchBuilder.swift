import MeterCore

/// Groups outbox records into JSON batch messages bounded in bytes, e.g.
/// `{"gateway":"gw-1","first_seq":41,"last_seq":43,"readings":[{"seq":41,"device":…},…]}`.
///
/// Records stay in sequence order: a batch holds consecutive records of one kind, and a record of
/// another kind starts a new batch, so the head-end sees every topic in sequence order. A record
/// that alone exceeds the bound goes out as a batch of one rather than never.
public struct BatchBuilder: Sendable {
    public let gateway: String
    public let maxBytes: Int

    public init(gateway: String, maxBytes: Int) {
        self.gateway = gateway
        self.maxBytes = maxBytes
    }

    public func batches(_ records: [UplinkRecord]) -> [UplinkBatch] {
        var batches: [UplinkBatch] = []
        var kind: RecordKind?
        var items: [String] = []
        var seqs: [UInt64] = []
        var itemBytes = 0
        var envelopeFixedBytes = 0

        func flush() {
            guard let k = kind, !seqs.isEmpty else { return }
            batches.append(UplinkBatch(kind: k, seqs: seqs, payload: envelope(k, seqs.first!, seqs.last!, items)))
            items = []
            seqs = []
            itemBytes = 0
        }

        for record in records {
            let item = Self.withSequence(record.payload, seq: record.seq)
            if kind != record.kind {
                flush()
                kind = record.kind
                envelopeFixedBytes = envelopeBytes(record.kind, first: 0, last: 0) - 2
            }
            if !seqs.isEmpty {
                // The envelope's size without building it for every record: its fixed text and the
                // two sequence numbers' digits.
                let envelope = envelopeFixedBytes + Self.digits(seqs[0]) + Self.digits(record.seq)
                let size = envelope + itemBytes + item.utf8.count + seqs.count
                if size > maxBytes { flush() }
            }
            items.append(item)
            seqs.append(record.seq)
            itemBytes += item.utf8.count
        }
        flush()
        return batches
    }

    /// `{"device":…}` → `{"seq":7,"device":…}`. A payload that is not a JSON object (a damaged
    /// record) is carried as a string under `"raw"` instead of breaking the whole batch.
    public static func withSequence(_ payload: String, seq: UInt64) -> String {
        let body = payload.utf8.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard body.first == UInt8(ascii: "{"), lastNonSpace(payload) == UInt8(ascii: "}") else {
            return "{\"seq\":\(seq),\"raw\":\(jsonString(payload))}"
        }
        let rest = body.dropFirst()
        let restTrimmed = rest.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if restTrimmed.first == UInt8(ascii: "}") { return "{\"seq\":\(seq)}" }
        return "{\"seq\":\(seq)," + String(decoding: rest, as: UTF8.self)
    }

    private static func lastNonSpace(_ s: String) -> UInt8? {
        s.utf8.reversed().first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
    }

    /// Decimal digits of `n`.
    static func digits(_ n: UInt64) -> Int {
        var count = 1
        var rest = n
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }

    /// Bytes of a batch's payload without its items and the commas between them.
    func envelopeBytes(_ kind: RecordKind, first: UInt64, last: UInt64) -> Int {
        envelope(kind, first, last, []).utf8.count
    }

    func envelope(_ kind: RecordKind, _ first: UInt64, _ last: UInt64, _ items: [String]) -> String {
        var text = "{\"gateway\":" + Self.jsonString(gateway)
        text += ",\"first_seq\":\(first),\"last_seq\":\(last),\"" + kind.batchKey + "\":["
        text += items.joined(separator: ",")
        text += "]}"
        return text
    }

    /// A JSON string literal (quotes, backslashes and control characters escaped).
    public static func jsonString(_ s: String) -> String { JSONWriter.quoted(s) }
}
