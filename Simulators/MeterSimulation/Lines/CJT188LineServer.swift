import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// A simulated M-Bus/RS-485 line of CJ/T 188 meters on a pty: several addresses on one line,
/// replies paced at the line's baud rate after the request's own time on the wire, the same
/// faults as Modbus devices (no reply, delay, bad checksum, garbage, wrong address, error reply),
/// and silence for frames to any other meter, as on a real bus.
public final class CJT188LineServer: Sendable {
    public let id: String
    public let settings: SerialSettings
    public let meters: [CJT188SimulatedMeter]
    let clock: any SimulationClock
    let seed: UInt64
    private let line: PacedLine

    public init(id: String, settings: SerialSettings, meters: [CJT188SimulatedMeter], clock: any SimulationClock,
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

    /// A meter by its unit number on the line (1, 2, … in scenario order) or its 14-digit address.
    public func meter(_ key: String) -> CJT188SimulatedMeter? {
        if let address = CJT188Address(written: key), let meter = meters.first(where: { $0.address == address }) { return meter }
        if let unit = UInt8(key) { return meters.first { $0.device.unit.rawValue == unit } }
        return nil
    }

    public func start() throws(SimulatorError) {
        try line.start { [self] in self.serve() }
    }

    public func stop() { line.stop() }

    private func serve() {
        let framing = settings.framing
        let staleAfter = max(0.05, 1.5 * framing.seconds(forBytes: 1))
        var decoder = CJT188StreamDecoder()
        let noise = SeededNoise(seed: seed)
        var counter: UInt64 = 0
        line.serve(&decoder, staleAfter: staleAfter) { decoder in
            while let frame = decoder.nextFrame() {
                counter += 1
                guard handle(frame, arrivedAt: Monotonic.now(), framing: framing, random: { noise.unit(counter &+ $0) }) else { return false }
            }
            let discarded = decoder.discardedBytes
            line.stats.withLock { $0.discardedBytes = discarded }
            return true
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: CJT188Frame, arrivedAt: Double, framing: SerialFraming, random: (UInt64) -> Double) -> Bool {
        line.stats.withLock { $0.frames += 1 }
        let addressed = meters.filter { $0.isAddressed(by: frame) }
        // Several meters answering one wildcard frame would collide on the wire: stay silent.
        guard addressed.count == 1, let meter = addressed.first else { return line.ignore() }
        meter.device.countRequest()
        let faults = meter.device.faults
        guard !faults.noReply, var reply = meter.respond(to: frame, at: clock.now()) else { return line.ignore() }
        if faults.wrongUnit {
            var wire = reply.address.wire
            wire[0] = CJT188BCD.byte((CJT188BCD.value(wire[0]) ?? 0) + 1)
            reply.address = CJT188Address(wire: wire) ?? reply.address
        }
        let bytes = reply.encoded(preamble: 2)
        let requestEnd = arrivedAt + framing.seconds(forBytes: frame.data.count + CJT188Frame.overhead) + framing.interFrameSilence
        return line.reply(faults.corrupting(bytes, random: random), requestEnd: requestEnd,
                          delay: Double(faults.delayMs) / 1000, framing: framing)
    }
}
