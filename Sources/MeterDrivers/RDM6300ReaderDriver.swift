import MeterCore
import MeterIO
import MeterProtocols

/// An RDM6300-style 125 kHz module on a serial port (9600 8N1): the module only talks, sending a
/// frame about ten times a second while an EM4100 card is in its field. Runs on a thread of its
/// own with the termios `SerialPort`; bounded reads (`pollMs`) let cancellation end it promptly.
public final class RDM6300ReaderDriver: CardReaderDriver {
    public let reader: CardReaderConfig
    /// How long one read waits at most: the bound on how late cancellation is noticed.
    let pollMs: Int

    public init(reader: CardReaderConfig, pollMs: Int = 100) {
        self.reader = reader
        self.pollMs = pollMs
    }

    public func run(_ report: @escaping @Sendable (CardReaderEvent) -> Void) async {
        let stop = WaitableState(false)
        do {
            try await DedicatedThread.runLoop(stackBytes: 256 * 1024, stop: stop) { [self] in serve(stop: stop, report: report) }
        } catch {
            report(.lost(reason: "reader \(reader.id) on \(reader.port): cannot start its thread: \(error)"))
            // Keep the promise to return only when cancelled.
            while !Task.isCancelled { try? await Task.sleep(nanoseconds: 1_000_000_000) }
        }
    }

    /// What `.ready` says: the module cannot be asked anything, so an open port is all there is
    /// to see until a card shows it is there.
    var readyDetail: String {
        "RDM6300 (EM4100, 125 kHz) on \(reader.port) at \(SerialSettings(baud: reader.baud).summary): port open; "
            + "the module sends only while a card is in its field, so it is recognised by its first valid frame"
    }

    private func serve(stop: WaitableState<Bool>, report: @Sendable (CardReaderEvent) -> Void) {
        var backoff = ReopenBackoff()
        var debouncer = CardDebouncer(windowMs: reader.debounceMs)
        var outageReported = false
        while !stop.withLock({ $0 }) {
            let port: SerialPort
            do {
                port = try SerialPort(port: reader.port, settings: SerialSettings(baud: reader.baud))
            } catch {
                // Once per outage, not at every retry: the card service turns each into an event.
                if !outageReported { report(.lost(reason: "reader \(reader.id): \(error)")) }
                outageReported = true
                if Self.wait(backoff.next(), or: stop) { return }
                continue
            }
            backoff.reset()
            outageReported = false
            debouncer.reset()
            report(.ready(detail: readyDetail))
            if let failure = read(port, stop: stop, debouncer: &debouncer, report: report) {
                report(.lost(reason: "reader \(reader.id): \(failure)"))
                outageReported = true
                if Self.wait(backoff.next(), or: stop) { return }
            }
        }
    }

    /// Reads until `stop` (returns nil) or the port fails (returns why). A pty whose master
    /// closed, like a USB adapter pulled out, reports hang-up: the read throws, so this never spins.
    private func read(_ port: SerialPort, stop: WaitableState<Bool>, debouncer: inout CardDebouncer,
                      report: @Sendable (CardReaderEvent) -> Void) -> SerialPortError? {
        var decoder = RDM6300StreamDecoder()
        while !stop.withLock({ $0 }) {
            let bytes: [UInt8]
            do { bytes = try port.read(maxBytes: 256, timeoutMs: pollMs) } catch { return error }
            guard !bytes.isEmpty else { continue }
            decoder.append(bytes)
            while let tag = decoder.nextTag() {
                let card = CardID(technology: .em4100, bytes: tag.bytes)
                // Debounced on the monotonic clock (a clock step must not split or merge
                // presentations); reported with wall time, which is what events carry.
                if debouncer.sighted(card, atMs: Int64(MonotonicClock.nowMs())) {
                    report(.presented(card, atMs: WallClock.nowMs()))
                }
            }
        }
        return nil
    }

    /// Waits `ms` unless stopped first; true if stopped.
    private static func wait(_ ms: Int, or stop: WaitableState<Bool>) -> Bool {
        stop.wait(until: { $0 }, timeoutMs: ms) { $0 }
    }
}
