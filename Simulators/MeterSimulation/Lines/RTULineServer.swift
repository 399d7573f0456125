import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// One simulated RS-485 line: a pty whose slave end a client opens like a serial port, with
/// several unit ids on it. Requests for units not on the line get no answer, as on a real bus.
///
/// Replies keep a real line's timing (see `PacedLine`), so a simulated line carries as many
/// transactions per second as a real one (about 24/s for 10 registers at 9600 8N1).
public final class RTULineServer: Sendable {
    public let id: String
    public let settings: SerialSettings
    public let devices: [SimulatedDevice]
    let seed: UInt64
    private let line: PacedLine

    public struct LineStatistics: Sendable, Hashable {
        public var frames = 0
        public var replies = 0
        public var ignored = 0
        public var discardedBytes = 0
    }

    public init(id: String, settings: SerialSettings, devices: [SimulatedDevice], seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.devices = devices
        self.seed = seed
        line = try PacedLine()
    }

    public var pty: PseudoTerminal { line.pty }
    public var slavePath: String { pty.slavePath }
    public var statistics: LineStatistics { line.stats.withLock { $0 } }

    public func device(unit: UInt8) -> SimulatedDevice? { devices.first { $0.unit.rawValue == unit } }

    public func start() throws(SimulatorError) {
        // Built here so that a libmodbus failure is reported to the caller, then moved to the thread.
        let box: UncheckedBox<ModbusResponder>
        do { box = UncheckedBox(try ModbusResponder(framing: .rtu, devices: devices, seed: seed)) } catch { throw SimulatorError("\(error)") }
        try line.start { [self] in self.serve(box.take()) }
    }

    public func stop() { line.stop() }

    private func serve(_ responder: ModbusResponder) {
        let framing = settings.framing
        // A partial frame older than this is voided (1.5 characters on a real line; a pty has no
        // timing, so allow for a client that writes byte by byte).
        var framer = ModbusRTUFramer(direction: .request)
        line.serve(&framer, staleAfter: max(0.05, 1.5 * framing.seconds(forBytes: 1))) { framer in
            while let frame = framer.nextFrame() {
                guard handle(frame, arrivedAt: Monotonic.now(), responder: responder, framing: framing) else { return false }
            }
            let discarded = framer.discardedBytes
            line.stats.withLock { $0.discardedBytes = discarded }
            return true
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: ModbusRTUFrame, arrivedAt: Double, responder: ModbusResponder, framing: SerialFraming) -> Bool {
        line.stats.withLock { $0.frames += 1 }
        // Broadcast: every device applies a write, nobody answers.
        if frame.unit == 0 {
            for device in devices { _ = responder.respond(to: frame.bytes, unit: device.unit.rawValue, pdu: frame.pdu) }
            return true
        }
        // The request's own time on the wire, then the silence that ends it.
        let requestEnd = arrivedAt + framing.seconds(forBytes: frame.bytes.count) + framing.interFrameSilence
        guard let reply = responder.respond(to: frame.bytes, unit: frame.unit, pdu: frame.pdu) else { return line.ignore() }
        return line.reply(reply.bytes, requestEnd: requestEnd, delay: Double(reply.delayMs) / 1000, framing: framing)
    }
}

/// Moves a non-Sendable value into the one thread that will use it.
/// `@unchecked Sendable`: `take()` is called once, on the receiving thread, after the sender
/// has dropped its reference, so the value is never used from two threads.
final class UncheckedBox<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: Value) { self.value = value }
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}
