import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// A simulated RS-485 line of DL/T 645 meters on a pty: several addresses on one line, replies
/// paced at the line's baud rate after the request's own time on the wire, the same faults as
/// Modbus devices (no reply, delay, bad checksum, garbage, wrong address, error reply), and
/// silence for frames to any other meter and for broadcasts, as on a real bus.
public final class DLT645LineServer: Sendable {
    public let id: String
    public let settings: SerialSettings
    public let meters: [DLT645SimulatedMeter]
    let clock: any SimulationClock
    let seed: UInt64
    private let line: PacedLine

    public init(id: String, settings: SerialSettings, meters: [DLT645SimulatedMeter], clock: any SimulationClock,
                seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.id = id
        self.settings = settings
        self.meters = meters
        self.clock = clock
        self.seed = seed
        line = try PacedLine()
    }

    public var pty: PseudoTerminal { line.pty }
    public var slavePath: String { pty.slavePath }
    public var statistics: RTULineServer.LineStatistics { line.stats.withLock { $0 } }
    public var devices: [SimulatedDevice] { meters.map(\.device) }

    /// A meter by its unit number on the line (1, 2, … in scenario order) or its 12-digit address.
    public func meter(_ key: String) -> DLT645SimulatedMeter? {
        if key.count == 12, let address = try? DLT645Address(key), let meter = meters.first(where: { $0.address == address }) { return meter }
        if let unit = UInt8(key) { return meters.first { $0.device.unit.rawValue == unit } }
        return nil
    }

    public func start() throws(SimulatorError) {
        try line.start { [self] in self.serve() }
    }

    public func stop() { line.stop() }

    private func serve() {
        let framing = settings.framing
        // A partial frame older than this is dropped (a master that died mid-frame).
        let staleAfter = max(0.5, 30 * framing.seconds(forBytes: 1))
        var decoder = DLT645StreamDecoder()
        let noise = SeededNoise(seed: seed)
        var counter: UInt64 = 0
        line.serve(&decoder, staleAfter: staleAfter) { decoder in
            while let item = decoder.next() {
                // A corrupted request gets no answer, as from a real meter.
                guard case let .frame(frame) = item else { line.stats.withLock { $0.discardedBytes += 1 }; continue }
                counter += 1
                guard handle(frame, arrivedAt: Monotonic.now(), framing: framing, random: { noise.unit(counter &+ $0) }) else { return false }
            }
            return true
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: DLT645Frame, arrivedAt: Double, framing: SerialFraming, random: (UInt64) -> Double) -> Bool {
        line.stats.withLock { $0.frames += 1 }
        let addressed = meters.filter { $0.isAddressed(by: frame) }
        if frame.address.isBroadcast {
            for meter in addressed { _ = meter.respond(to: frame, at: clock.now()) }
            return line.ignore()
        }
        // Several meters answering one wildcard frame would collide on the wire: stay silent.
        guard addressed.count == 1, let meter = addressed.first else { return line.ignore() }
        meter.device.countRequest()
        let faults = meter.device.faults
        guard !faults.noReply, var reply = meter.respond(to: frame, at: clock.now()) else { return line.ignore() }
        if let code = faults.exception {
            reply = DLT645Reply.errorReply(to: frame, from: meter.address, error: DLT645ErrorBits(rawValue: code))
        }
        if faults.wrongUnit {
            var wire = reply.address.wire
            wire[0] = DLT645BCD.byte((((try? DLT645BCD.value(wire[0])) ?? 0) + 1) % 100)
            reply.address = (try? DLT645Address(wire: wire)) ?? reply.address
        }
        guard let bytes = try? reply.encoded(preamble: 4) else { return true }
        let requestEnd = arrivedAt + framing.seconds(forBytes: frame.data.count + DLT645Frame.overhead + 4) + framing.interFrameSilence
        return line.reply(faults.corrupting(bytes, random: random), requestEnd: requestEnd,
                          delay: Double(faults.delayMs) / 1000, framing: framing)
    }
}
