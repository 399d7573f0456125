import MeterCore

extension RecordKind {
    /// The array's name in a batch payload.
    public var batchKey: String {
        switch self {
        case .reading: "readings"
        case .event: "events"
        case .commandResult: "results"
        }
    }
}

/// One outbox record on its way up: its gateway-wide sequence number and one JSON object
/// (without `"seq"`) exactly as the store holds it, so billing decimals are never re-encoded.
public struct UplinkRecord: Sendable, Hashable {
    public var seq: UInt64
    public var kind: RecordKind
    public var payload: String

    public init(seq: UInt64, kind: RecordKind, payload: String) {
        self.seq = seq
        self.kind = kind
        self.payload = payload
    }
}

/// One MQTT message: consecutive records of one kind.
public struct UplinkBatch: Sendable, Hashable {
    public var kind: RecordKind
    /// Every sequence number in the batch, in order (the store deletes exactly these after PUBACK).
    public var seqs: [UInt64]
    public var payload: String

    public var firstSeq: UInt64 { seqs.first ?? 0 }
    public var lastSeq: UInt64 { seqs.last ?? 0 }
}
