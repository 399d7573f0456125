import MeterCore
import MeterProtocols

/// What a reply scanner makes of the bytes received so far in one transaction.
public enum ReplyScan: Sendable, Hashable {
    /// No matching reply yet: keep reading until the timeout.
    case needMore
    /// The matching reply, in whatever form the scanner hands back (typically the frame's bytes).
    case reply([UInt8])
    /// A reply for this request arrived with a bad checksum: retried like a timeout.
    case checksumError(String)
    /// The meter answered with an error reply (bits, explanation): the meter is alive, no retry.
    case meterError(UInt8, String)
    /// A reply for this request that makes no sense: retried like a checksum error.
    case invalid(String)
}

/// A stream decoder for one transaction's replies: fed the received bytes chunk by chunk, it skips
/// preambles, garbage and frames for other meters, and says when the reply to this request is there.
public protocol ReplyScanner {
    mutating func scan(_ bytes: [UInt8]) -> ReplyScan
}

/// One request on a byte-oriented line (DL/T 645, CJ/T 188).
public struct SerialRequest: Sendable {
    /// The meter address as written; per-device back-off and messages use it.
    public var device: String
    /// The control code, for messages and statistics.
    public var function: UInt8
    /// What is asked, e.g. `DI 00010000`, for messages.
    public var item: String?
    /// The complete request frame, preamble included.
    public var frame: [UInt8]
    /// False for broadcasts: the transaction ends once the frame is on the wire.
    public var expectsReply: Bool
    /// A fresh scanner for each attempt.
    public var scanner: @Sendable () -> any ReplyScanner

    public init(device: String, function: UInt8, item: String? = nil, frame: [UInt8], expectsReply: Bool = true,
                scanner: @escaping @Sendable () -> any ReplyScanner) {
        self.device = device
        self.function = function
        self.item = item
        self.frame = frame
        self.expectsReply = expectsReply
        self.scanner = scanner
    }
}

/// A serial line (or a TCP socket carrying one) for request/response protocols other than Modbus
/// (DL/T 645, CJ/T 188): `Bus` with a byte channel on its thread. A transaction writes the request
/// and feeds the received bytes to the request's scanner until it yields the reply, the timeout
/// passes, or — for a broadcast — the frame has left the port. Leftovers of a failed transaction
/// are flushed before the next.
public typealias SerialLineBus = Bus<SerialLineBusWorker>

extension Bus where Worker == SerialLineBusWorker {
    /// Starts the bus thread; the port or connection opens with the first transaction.
    /// `interFrameSilenceMs` defaults to 3.5 characters but at least 5 ms on a serial line, 0 over TCP.
    public convenience init(config: BusConfig, interFrameSilenceMs: Int? = nil) {
        let silenceUs: UInt64
        if let interFrameSilenceMs {
            silenceUs = UInt64(max(0, interFrameSilenceMs)) * 1000
        } else if case let .serial(_, settings, _) = config.transport {
            silenceUs = max(5_000, UInt64((settings.framing.interFrameSilence * 1_000_000).rounded(.up)))
        } else {
            silenceUs = 0
        }
        self.init(config: config) { SerialLineBusWorker(config: config, status: $0, interFrameSilenceUs: silenceUs) }
    }

    /// Runs one request; returns the scanner's reply (empty for a broadcast).
    public func transact(_ request: SerialRequest) async throws(SerialBusError) -> [UInt8] {
        // A job of one request allocates no arrays of its own (no `rest`, no `more`), and fails
        // as a whole when its request fails: no partial outcome here.
        try await submit { SerialTransaction(first: request, continuation: $0, urgent: $1) }.get().first
    }

    /// Runs the requests of `sequence` one after the other as one job of the bus thread, so that no
    /// other transaction goes between them; stops at the first failure or when `proceeds` says so.
    public func transact(_ sequence: SerialSequence) async -> SerialReplies {
        guard let first = sequence.requests.first else { return SerialReplies(replies: []) }
        let rest = Array(sequence.requests.dropFirst())
        return switch await submit({ SerialTransaction(first: first, rest: rest, proceeds: sequence.proceeds, continuation: $0, urgent: $1) }) {
        case let .success(answers): SerialReplies(replies: [answers.first] + answers.more, failure: answers.failure)
        case let .failure(error): SerialReplies(replies: [], failure: error)
        }
    }
}

/// Requests that must follow each other on the line with nothing in between: an ESAM identity
/// authentication opens a session of a few minutes at most, and the encrypted command it allows
/// goes out right after it, not behind the polls queued meanwhile (nor another master's frames).
public struct SerialSequence: Sendable {
    public var requests: [SerialRequest]
    /// Whether the next request goes out after the reply to request `index`: false ends the
    /// sequence (a meter's refusal of the authentication makes the command behind it pointless).
    public var proceeds: @Sendable (_ index: Int, _ reply: [UInt8]) -> Bool

    public init(_ requests: [SerialRequest], proceeds: @escaping @Sendable (_ index: Int, _ reply: [UInt8]) -> Bool = { _, _ in true }) {
        self.requests = requests
        self.proceeds = proceeds
    }
}

/// What a sequence brought back: the replies in order, and why it ended early.
public struct SerialReplies: Sendable {
    public var replies: [[UInt8]]
    /// The failure of the request after the last reply (no reply, a garbled one, a refused job);
    /// nil when every request was answered or `proceeds` stopped the sequence.
    public var failure: SerialBusError?

    public init(replies: [[UInt8]], failure: SerialBusError? = nil) {
        self.replies = replies
        self.failure = failure
    }
}

/// A job of the bus thread: one request, or the requests of a sequence as `first` and `rest` (empty
/// for a single request, so that the poll of one meter value allocates no array for it).
public struct SerialTransaction: BusJob {
    var first: SerialRequest
    var rest: [SerialRequest] = []
    var proceeds: @Sendable (_ index: Int, _ reply: [UInt8]) -> Bool = { _, _ in true }
    public var continuation: CheckedContinuation<Result<SerialAnswers, SerialBusError>, Never>
    public var urgent: Bool

    /// A job the queue refuses fails with its first request's context.
    public func error(_ kind: BusFailure, bus: BusID, message: String) -> SerialBusError {
        first.error(kind, bus: bus, message: message)
    }
}

/// What a job brought back: the first request's reply, the replies to the requests after it
/// (none for a single request), and why it ended early. A job whose first request fails fails as
/// a whole instead.
public struct SerialAnswers: Sendable {
    var first: [UInt8]
    var more: [[UInt8]] = []
    var failure: SerialBusError?
}

extension SerialRequest {
    func error(_ kind: BusFailure, bus: BusID, message: String) -> SerialBusError {
        SerialBusError(kind, bus: bus, device: device, function: function, item: item, message: message)
    }
}
