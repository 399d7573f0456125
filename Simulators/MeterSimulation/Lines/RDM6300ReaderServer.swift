import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// A simulated RDM6300 125 kHz module on a pty of its own. Like the real module it only talks:
/// while a card is in the field it sends the card's frame about every 100 ms, paced at the line's
/// baud rate, and it never reads (what a client writes is drained and dropped). Unplugging closes
/// the pty, so a client's reads fail as with a USB adapter pulled out; plugging in opens a new one.
public final class RDM6300ReaderServer: CardReaderServer {
    public let id: String
    public let settings: SerialSettings
    private let state: WaitableState<ReaderState>
    private let thread = Mutex<DedicatedThread?>(nil)
    private var framing: SerialFraming { settings.framing }

    /// How often a real module repeats the frame of a card that stays in the field.
    static let repeatInterval = 0.1

    struct Card {
        let tag: EM4100Tag
        /// Monotonic seconds at which it leaves the field; nil: until removed.
        let until: Double?
    }

    struct ReaderState {
        var pty: PseudoTerminal?
        var card: Card?
        var garbage = 0
        var corruptNext = false
        var stopping = false
        /// Bumped by every control command, so the serving thread's wait between frames ends early.
        var changes = 0
        var framesSent = 0
        /// Frames or garbage bytes dropped because no one read the pty and its queue was full.
        var bytesDropped = 0
        var noise: UInt64
    }

    public init(id: String, settings: SerialSettings = SerialSettings(baud: 9600), seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        state = WaitableState(ReaderState(pty: try PseudoTerminal(), noise: seed | 1))
    }

    static let family = LineFamily(name: .rdm6300, addressDigits: nil) { spec, builder throws(SimulatorError) in
        // The scenario loader refuses devices on reader lines with their location; this is the
        // backstop for scenarios built in code.
        guard spec.devices.isEmpty else { throw SimulatorError("line \(spec.id): an rdm6300 reader line takes no devices") }
        return try builder.line(spec.id) { () throws(PseudoTerminalError) in
            try RDM6300ReaderServer(id: spec.id, settings: spec.settings, seed: builder.seed(for: spec.id))
        }
    }

    // MARK: LineServer

    /// The pty's slave path; nil while unplugged.
    public var slavePath: String? { state.withLock { $0.pty?.slavePath } }
    public var linkTarget: String? { slavePath }
    public var announcement: String { "line \(id) \(slavePath ?? "unplugged")" }
    public var devices: [SimulatedDevice] { [] }
    public var listing: [String] {
        let (plugged, card) = state.withLock { ($0.pty != nil, $0.card) }
        return ["\(id) reader rdm6300 \(plugged ? "plugged" : "unplugged") card=\(card.map { Hex.compact($0.tag.bytes) } ?? "none")"]
    }
    /// Frames sent so far (a corrupted one included).
    public var framesSent: Int { state.withLock { $0.framesSent } }

    public func start() throws(SimulatorError) {
        state.withLock { $0.pty?.flush() }
        do {
            let serving = try DedicatedThread(stackBytes: 256 * 1024) { [self] in serve() }
            thread.withLock { $0 = serving }
        } catch {
            throw SimulatorError("line \(id): \(error)")
        }
    }

    public func stop() {
        change { $0.stopping = true }
        thread.withLock { $0 }?.join(timeoutMs: 5000)
    }

    // MARK: CardReaderServer

    public func present(_ uid: [UInt8], seconds: Double?) -> String? {
        guard let tag = EM4100Tag(bytes: uid) else {
            return "line \(id): an RDM6300 reads EM4100 cards, whose ids are 5 bytes, not \(uid.count)"
        }
        let until = seconds.map { Monotonic.now() + $0 }
        change { $0.card = Card(tag: tag, until: until) }
        return nil
    }

    public func removeCard() { change { $0.card = nil } }

    public func sendGarbage(_ count: Int) { change { $0.garbage += count } }

    public func corruptNextFrame() { change { $0.corruptNext = true } }

    public func unplug() { change { $0.pty = nil } }

    public func plugIn() throws(SimulatorError) -> String {
        if let path = slavePath { return path }
        let pty: PseudoTerminal
        do { pty = try PseudoTerminal() } catch { throw SimulatorError("line \(id): \(error)") }
        change { $0.pty = pty }
        return pty.slavePath
    }

    private func change(_ body: (inout ReaderState) -> Void) {
        state.withLock {
            body(&$0)
            $0.changes += 1
        }
        state.broadcast()
    }

    // MARK: serving

    private enum Work {
        case stop
        case send([UInt8], PseudoTerminal, frame: Bool)
        case idle
    }

    private func serve() {
        var nextFrameAt = 0.0
        var seen = -1
        while true {
            let now = Monotonic.now()
            let work: Work = state.withLock { s in
                if s.stopping { return .stop }
                seen = s.changes
                if let until = s.card?.until, until <= now { s.card = nil }
                guard let pty = s.pty else {
                    s.garbage = 0
                    return .idle
                }
                // Whatever a client wrote is no command for this module.
                _ = try? pty.readAvailable()
                if s.garbage > 0 {
                    let count = s.garbage
                    s.garbage = 0
                    return .send(Self.garbage(count, noise: &s.noise), pty, frame: false)
                }
                if let card = s.card, now >= nextFrameAt {
                    var frame = RDM6300Frame.encode(card.tag)
                    if s.corruptNext {
                        s.corruptNext = false
                        // A wrong last checksum digit, still a hex digit: only the checksum can tell.
                        frame[12] = frame[12] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
                    }
                    s.framesSent += 1
                    return .send(frame, pty, frame: true)
                }
                return .idle
            }
            switch work {
            case .stop:
                return
            case let .send(bytes, pty, frame):
                if frame { nextFrameAt = Monotonic.now() + Self.repeatInterval }
                let dropped = writePaced(bytes, to: pty)
                if dropped > 0 { state.withLock { $0.bytesDropped += dropped } }
            case .idle:
                // Until the next frame is due, or a control command changes something.
                let hasCard = state.withLock { $0.card != nil && $0.pty != nil }
                let waitMs = hasCard ? max(1, Int(((nextFrameAt - Monotonic.now()) * 1000).rounded(.up))) : 1000
                state.wait(until: { $0.stopping || $0.changes != seen }, timeoutMs: waitMs) { _ in }
            }
        }
    }

    /// Writes `bytes` to the master so that byte i leaves i character times after the first.
    /// Returns how many bytes were dropped: a pty that no one reads fills up, and a real module
    /// does not wait for anyone either.
    private func writePaced(_ bytes: [UInt8], to pty: PseudoTerminal) -> Int {
        let charTime = framing.seconds(forBytes: 1)
        let start = Monotonic.now()
        for (i, byte) in bytes.enumerated() {
            Monotonic.sleep(until: start + Double(i) * charTime)
            var b = byte
            let n = Glibc.write(pty.masterFD, &b, 1)
            if n != 1 { return bytes.count - i }
        }
        Monotonic.sleep(until: start + Double(bytes.count) * charTime)
        return 0
    }

    /// `count` bytes of line noise (xorshift on the line's seed, so a scenario replays the same).
    static func garbage(_ count: Int, noise: inout UInt64) -> [UInt8] {
        (0..<count).map { _ in
            noise ^= noise << 13
            noise ^= noise >> 7
            noise ^= noise << 17
            return UInt8(truncatingIfNeeded: noise >> 24)
        }
    }
}
