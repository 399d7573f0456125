import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// What a simulated PN532 counts.
public struct PN532ReaderStatistics: Sendable, Hashable {
    /// Command frames received and ACKed.
    public var commands = 0
    /// Frames with a bad data checksum, left unanswered as the chip does.
    public var checksumErrors = 0
    public var nacks = 0
    public var errorFrames = 0
    /// Frames left unanswered while the chip was silent (`stopAnswering`).
    public var ignored = 0
    /// Command codes in the order received (the last 64), for tests that check what a host sent.
    public var recentCommands: [UInt8] = []
}

/// A simulated NXP PN532 on a pty of its own (HSU, 115200 8N1): a scenario line with
/// `protocol: pn532` and `devices: []`. It speaks the host protocol of UM0701-02 (wake-up,
/// ACK after every good command, NACK resends the last reply, error frame for what it cannot do;
/// `PN532Chip` holds the commands) so that libnfc, nfcpy and the agent accept it alike.
/// Control-channel faults: garbage on the line, a corrupted next reply, unplug and plug.
///
/// No byte pacing: the host protocol is request/answer with timeouts in the tens of milliseconds,
/// and at 115200 baud a whole reply takes about 2 ms on a real wire.
public final class PN532ReaderServer: CardReaderServer {
    public let id: String
    let settings: SerialSettings
    private let seed: UInt64
    private let shared: Mutex<Shared>
    private let stopping = WakePipe()
    /// Wakes the serving thread when the control channel changed something; drained on each wake.
    private let kick = WakePipe()
    private let thread = Mutex<DedicatedThread?>(nil)

    private struct Shared {
        var pty: PseudoTerminal?
        var card: SimulatedNFCCard?
        /// Monotonic seconds when the card leaves the field; nil while it stays.
        var cardLeavesAt: Double?
        var pendingGarbage = 0
        var corruptNext = false
        var silence = Silence.off
        var statistics = PN532ReaderStatistics()
    }

    public init(id: String, settings: SerialSettings = SerialSettings(baud: 115_200), seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.seed = seed
        shared = Mutex(Shared(pty: try PseudoTerminal()))
    }

    static let family = LineFamily(name: .pn532, addressDigits: nil) { spec, builder throws(SimulatorError) in
        guard spec.devices.isEmpty else {
            throw SimulatorError("line \(spec.id): a pn532 reader serves no devices (give it devices: [])")
        }
        return try builder.line(spec.id) { () throws(PseudoTerminalError) in
            try PN532ReaderServer(id: spec.id, settings: spec.settings, seed: builder.seed(for: spec.id))
        }
    }

    /// The slave end of the pty while plugged in.
    public var slavePath: String? { shared.withLock { $0.pty?.slavePath } }
    public var linkTarget: String? { slavePath }
    public var announcement: String { "line \(id) \(slavePath ?? "unplugged")" }
    public var devices: [SimulatedDevice] { [] }
    public var listing: [String] {
        let card = currentCard()
        return ["\(id) pn532 card=\(card.map { Hex.compact($0.uid) } ?? "none")\(slavePath == nil ? " unplugged" : "")"]
    }
    public var statistics: PN532ReaderStatistics { shared.withLock { $0.statistics } }

    // MARK: CardReaderServer

    public func present(_ uid: [UInt8], seconds: Double?) -> String? {
        guard let card = SimulatedNFCCard(uid: uid) else {
            return "line \(id): a PN532 reads ISO 14443-A UIDs of 4, 7 or 10 bytes, not \(uid.count)"
        }
        shared.withLock {
            $0.card = card
            $0.cardLeavesAt = seconds.map { Monotonic.now() + $0 }
        }
        kick.signal()
        return nil
    }

    public func removeCard() {
        shared.withLock {
            $0.card = nil
            $0.cardLeavesAt = nil
        }
    }

    public func sendGarbage(_ count: Int) {
        shared.withLock { $0.pendingGarbage += max(0, count) }
        kick.signal()
    }

    public func corruptNextFrame() {
        shared.withLock { $0.corruptNext = true }
    }

    public func unplug() {
        // The serving thread drops its reference on its next wake; the last reference closes
        // both ends, and a client holding the slave then reads EIO, as after a USB unplug.
        shared.withLock { $0.pty = nil }
        kick.signal()
    }

    public func plugIn() throws(SimulatorError) -> String {
        if let path = slavePath { return path }
        let pty: PseudoTerminal
        do { pty = try PseudoTerminal() } catch { throw SimulatorError("line \(id): \(error)") }
        shared.withLock { $0.pty = pty }
        kick.signal()
        return pty.slavePath
    }

    // MARK: Serving

    public func start() throws(SimulatorError) {
        shared.withLock { $0.pty }?.flush()
        let serving: DedicatedThread
        do { serving = try DedicatedThread(stackBytes: 512 * 1024) { [self] in serve() } } catch {
            throw SimulatorError("line \(id): \(error)")
        }
        thread.withLock { $0 = serving }
    }

    public func stop() {
        stopping.signal()
        _ = thread.withLock { $0 }?.join(timeoutMs: 5000)
    }

    private func currentCard() -> SimulatedNFCCard? {
        shared.withLock { state in
            if let leaves = state.cardLeavesAt, Monotonic.now() >= leaves {
                state.card = nil
                state.cardLeavesAt = nil
            }
            return state.card
        }
    }

    /// A chip that stops answering while its port stays open (a hung firmware, a cut wire behind a
    /// USB adapter), unlike `unplug`, whose port goes away.
    private enum Silence {
        case off
        /// Silent from the first frame after the reply to this command code.
        case afterReplyTo(UInt8)
        case on
    }

    /// The chip ignores every frame from now on (nil), or from the first frame after its next reply
    /// to command `code`: a test can then pick the point in a host's command sequence where the
    /// chip falls silent.
    public func stopAnswering(afterReplyTo code: UInt8? = nil) {
        shared.withLock { $0.silence = code.map { .afterReplyTo($0) } ?? .on }
    }

    public func answerAgain() {
        shared.withLock { $0.silence = .off }
    }

    /// One power-up of the chip per pty: a reader plugged in again starts from reset.
    private struct Session {
        var chip = PN532Chip()
        var decoder = PN532StreamDecoder()
        /// The last information frame sent, for a NACK.
        var lastFrame: [UInt8]?
        /// When the waiting command gives up (InAutoPoll with a finite count).
        var waitDeadline: Double?
    }

    private func serve() {
        let noise = SeededNoise(seed: seed)
        var garbageSent: UInt64 = 0
        var pty: PseudoTerminal?
        var session = Session()
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let current = shared.withLock { $0.pty }
            if current !== pty {
                pty = current
                session = Session()
            }
            let garbage = shared.withLock { state -> Int in
                defer { state.pendingGarbage = 0 }
                return state.pendingGarbage
            }
            if garbage > 0, let pty {
                // No 00 byte: garbage must never contain a start code, so it cannot form a frame.
                let bytes = (0..<UInt64(garbage)).map { k -> UInt8 in
                    UInt8(1 + Int(noise.unit(garbageSent &+ k) * 254.999))
                }
                garbageSent &+= UInt64(garbage)
                try? pty.write(bytes)
            }
            if session.chip.waiting != nil, let pty {
                let timedOut = session.waitDeadline.map { Monotonic.now() >= $0 } ?? false
                if let frame = session.chip.answerWaiting(card: currentCard(), timedOut: timedOut) {
                    session.waitDeadline = nil
                    send(frame.encoded(), on: pty, &session)
                }
            }

            var fds = [pollfd(fd: stopping.readFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: kick.readFD, events: Int16(POLLIN), revents: 0)]
            if let pty { fds.append(pollfd(fd: pty.masterFD, events: Int16(POLLIN), revents: 0)) }
            let timeoutMs: Int32 = session.waitDeadline.map { Int32(max(1, ($0 - Monotonic.now()) * 1000)) } ?? -1
            let rc = poll(&fds, nfds_t(fds.count), timeoutMs)
            if fds[0].revents != 0 { return }
            if rc < 0 { if errno == EINTR { continue }; return }
            if fds[1].revents != 0 { _ = read(kick.readFD, &buffer, buffer.count) }
            guard let pty, fds.count == 3, fds[2].revents != 0 else { continue }
            guard fds[2].revents & Int16(POLLIN) != 0, let bytes = try? pty.readAvailable(), !bytes.isEmpty else {
                // POLLHUP cannot last while the slave is held open here; do not spin anyway.
                _ = stopping.sleep(0.05)
                continue
            }
            session.decoder.append(bytes)
            while let message = session.decoder.next() {
                handle(message, on: pty, &session)
            }
        }
    }

    private func handle(_ message: PN532Message, on pty: PseudoTerminal, _ session: inout Session) {
        switch message {
        case .ack:
            session.chip.abort()
            session.waitDeadline = nil
        case .nack:
            shared.withLock { $0.statistics.nacks += 1 }
            if let last = session.lastFrame { try? pty.write(last) }
        case let .frame(command):
            guard command.tfi == PN532Frame.hostToChip else { return }
            let silent = shared.withLock { state -> Bool in
                guard case .on = state.silence else { return false }
                state.statistics.ignored += 1
                return true
            }
            if silent { return }
            shared.withLock {
                $0.statistics.commands += 1
                $0.statistics.recentCommands.append(command.code ?? 0)
                if $0.statistics.recentCommands.count > 64 { $0.statistics.recentCommands.removeFirst() }
            }
            session.chip.wake()
            try? pty.write(PN532Frame.ack)
            switch session.chip.execute(command, card: currentCard()) {
            case let .reply(frame):
                send(frame.encoded(), on: pty, &session)
                shared.withLock { state in
                    if case let .afterReplyTo(code) = state.silence, code == command.code { state.silence = .on }
                }
            case .errorFrame:
                shared.withLock { $0.statistics.errorFrames += 1 }
                send(PN532Frame.errorFrame, on: pty, &session)
            case let .waitForCard(deadline):
                session.waitDeadline = deadline.map { Monotonic.now() + $0 }
            case .silent:
                break
            }
        case .checksumError:
            // The chip drops a frame it cannot trust without a word; the host times out waiting
            // for the ACK and sends again.
            shared.withLock { $0.statistics.checksumErrors += 1 }
        case .applicationError:
            break
        }
    }

    /// Writes an information frame, with a wrong DCS if the control channel asked for one.
    private func send(_ frame: [UInt8], on pty: PseudoTerminal, _ session: inout Session) {
        session.lastFrame = frame
        let corrupt = shared.withLock { state -> Bool in
            defer { state.corruptNext = false }
            return state.corruptNext
        }
        var bytes = frame
        if corrupt { bytes[bytes.count - 2] ^= 0xFF }
        try? pty.write(bytes)
    }
}
