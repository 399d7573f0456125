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

/// A serial line (or a TCP socket carrying one) for request/response protocols other than Modbus,
/// with its own thread that runs one transaction at a time: write the request, feed the received
/// bytes to the request's scanner until it yields the reply, the timeout passes, or — for a
/// broadcast — the frame has left the port.
///
/// Like `ModbusBus`: the queue is bounded (`config.queueDepth`), timeouts and checksum errors are
/// retried `config.retries` times, a meter that keeps timing out is skipped with back-off while
/// the others on the line go on, and leftovers of a failed transaction are flushed before the next.
///
/// Checked `Sendable`: it holds only constants and `Guarded` state; the port lives on the bus thread.
public final class SerialLineBus: Sendable {
    public let config: BusConfig
    private let queue: BusQueue<SerialJob>
    private let status: Guarded<BusStatistics>

    public var id: BusID { config.id }

    /// Starts the bus thread; the port or connection opens with the first transaction.
    /// `interFrameSilenceMs` defaults to 3.5 characters but at least 5 ms on a serial line, 0 over TCP.
    public init(config: BusConfig, interFrameSilenceMs: Int? = nil) {
        self.config = config
        status = Guarded(BusStatistics())
        queue = BusQueue(bus: config.id, capacity: config.queueDepth, status: status)
        let queue = queue, status = status
        let silenceUs: UInt64
        if let interFrameSilenceMs {
            silenceUs = UInt64(max(0, interFrameSilenceMs)) * 1000
        } else if case let .serial(_, settings, _) = config.transport {
            silenceUs = max(5_000, UInt64((settings.framing.interFrameSilence * 1_000_000).rounded(.up)))
        } else {
            silenceUs = 0
        }
        let started = DedicatedThread.start {
            SerialLineWorker(config: config, status: status, interFrameSilenceUs: silenceUs).run(queue)
        }
        if started != 0 {
            queue.refuseAll(because: "cannot start the bus thread (pthread_create error \(started))")
        }
    }

    deinit { close() }

    /// Runs one request; returns the scanner's reply (empty for a broadcast).
    public func transact(_ request: SerialRequest) async throws(SerialBusError) -> [UInt8] {
        try await queue.submit { SerialJob(request: request, continuation: $0) }.get()
    }

    /// Stops the bus: queued transactions fail with `.closed`; the one in progress finishes within
    /// its timeout, then the thread closes the port. Does not block.
    public func close() { queue.close() }

    public var statistics: BusStatistics {
        var snapshot = status.withLock { $0 }
        snapshot.queued = queue.count
        return snapshot
    }
}

struct SerialJob: BusJob {
    var request: SerialRequest
    var continuation: CheckedContinuation<Result<[UInt8], SerialBusError>, Never>

    func error(_ kind: SerialBusError.Kind, bus: BusID, message: String) -> SerialBusError {
        SerialBusError(kind, bus: bus, device: request.device, function: request.function, item: request.item, message: message)
    }

    func refused(_ why: QueueRefusal, bus: BusID, message: String) -> SerialBusError {
        error(why == .full ? .queueFull : .closed, bus: bus, message: message)
    }
}
