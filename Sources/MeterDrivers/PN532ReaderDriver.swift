import CNFC
import MeterCore

/// A PN532 NFC reader on a serial port (HSU), driven through libnfc's `pn532_uart` driver: a poll
/// loop on a thread of its own looks for ISO 14443-A cards every `pollIntervalMs`, reports each
/// presentation once, and reopens the reader with back-off when it stops answering or its port
/// goes away.
///
/// Cancellation is seen between polls: each poll is a single-try selection that the chip answers at
/// once, so the loop never sits in a long libnfc call. nfc_abort_command would not help here: it
/// only ends the wait for a reply, not the wait for the ACK, and a single-try poll has no long
/// reply wait (it matters for endless selection or InAutoPoll, which this driver does not use).
public struct PN532ReaderDriver: CardReaderDriver {
    public let reader: CardReaderConfig
    let pollIntervalMs: Int
    /// Consecutive failed polls after which the reader counts as lost: one garbled reply (line
    /// noise) is retried, a port that went away fails every poll.
    let failuresBeforeLost: Int
    let backoff: ReopenBackoff

    public init(reader: CardReaderConfig) {
        self.init(reader: reader, pollIntervalMs: 150)
    }

    init(reader: CardReaderConfig, pollIntervalMs: Int, failuresBeforeLost: Int = 3,
         backoff: ReopenBackoff = ReopenBackoff()) {
        self.reader = reader
        self.pollIntervalMs = pollIntervalMs
        self.failuresBeforeLost = failuresBeforeLost
        self.backoff = backoff
    }

    /// libnfc's device string: its uart layer opens any tty path, a pty or a symlink to one included
    /// (the path may not contain ':', the connstring's separator).
    var connstring: String { "pn532_uart:\(reader.port):\(reader.baud)" }

    public func run(_ report: @escaping @Sendable (CardReaderEvent) -> Void) async {
        let what = "reader \(reader.id) on \(reader.port)"
        let stop = WaitableState(false)
        do {
            let library = try await NFCLibrary.loadOffPool()
            let loop = PollLoop(driver: self, api: library, what: what, stop: stop, report: report)
            // Returns after the loop has closed the device, so a restarted driver finds the port free.
            try await DedicatedThread.runLoop(stackBytes: 256 * 1024, stop: stop) { loop.run() }
        } catch {
            // Nothing to poll with: say so once and wait for the end, as the protocol asks.
            if !Task.isCancelled { report(.lost(reason: "\(what): \(error)")) }
            await Self.untilCancelled()
        }
    }

    private static func untilCancelled() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}

/// The loop on the driver's own thread; it alone touches the libnfc pointers.
private final class PollLoop: @unchecked Sendable {
    // @unchecked: created on the caller's task and then used only by the one thread it is handed to.
    let driver: PN532ReaderDriver
    let api: meteragent_nfc_api
    let what: String
    let stop: WaitableState<Bool>
    let report: @Sendable (CardReaderEvent) -> Void

    init(driver: PN532ReaderDriver, api: NFCLibrary.Functions, what: String, stop: WaitableState<Bool>,
         report: @escaping @Sendable (CardReaderEvent) -> Void) {
        self.driver = driver
        self.api = api.api
        self.what = what
        self.stop = stop
        self.report = report
    }

    /// Sleeps up to `ms`; true if the driver is stopping.
    func pause(_ ms: Int) -> Bool {
        stop.wait(until: { $0 }, timeoutMs: ms, then: { $0 })
    }

    var stopping: Bool { stop.withLock { $0 } }

    func run() {
        var debouncer = CardDebouncer(windowMs: driver.reader.debounceMs)
        var backoff = driver.backoff
        var lost = false
        while !stopping {
            let session: NFCReaderSession
            do {
                session = try NFCReaderSession(api: api, connstring: driver.connstring, port: driver.reader.port, what: what)
            } catch {
                // One report per outage; the retries stay quiet until the reader is back.
                if !lost { report(.lost(reason: error.message)) }
                lost = true
                if pause(backoff.next()) { return }
                continue
            }
            lost = false
            backoff.reset()
            // What a reopened reader sees first is a new presentation.
            debouncer.reset()
            report(.ready(detail: session.detail))
            if let reason = poll(session, &debouncer) {
                report(.lost(reason: "\(what): \(reason)"))
                lost = true
                if pause(backoff.next()) { return }
            }
        }
    }

    /// Polls until the driver stops (nil) or the reader fails `failuresBeforeLost` times in a row
    /// (the last failure's text). The session closes when this returns.
    private func poll(_ session: NFCReaderSession, _ debouncer: inout CardDebouncer) -> String? {
        var failures = 0
        while !stopping {
            switch session.poll() {
            case let .card(uid):
                failures = 0
                let card = CardID(technology: .iso14443a, bytes: uid)
                if debouncer.sighted(card, atMs: Int64(MonotonicClock.nowMs())) {
                    report(.presented(card, atMs: WallClock.nowMs()))
                }
            case .empty:
                failures = 0
            case let .failed(text):
                failures += 1
                if failures >= driver.failuresBeforeLost { return "stopped answering (\(text))" }
            }
            if pause(driver.pollIntervalMs) { return nil }
        }
        return nil
    }
}
