import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// A simulated RS-485 line of DL/T 645 meters on a pty: several addresses on one line, replies
/// paced at the line's baud rate after the request's own time on the wire, the same faults as
/// Modbus devices (no reply, delay, bad checksum, garbage, wrong address, error reply), and
/// silence for frames to any other meter and for broadcasts, as on a real bus.
public final class DLT645LineServer: SerialLineServer {
    public let meters: [DLT645SimulatedMeter]
    let clock: any SimulationClock
    public let line: PacedLine

    public init(id: String, settings: SerialSettings, meters: [DLT645SimulatedMeter], clock: any SimulationClock,
                seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.meters = meters
        self.clock = clock
        line = try PacedLine(id: id, settings: settings, seed: seed)
    }

    /// `dlt645` and `dlt645_1997` lines alike: each meter speaks its profile's edition.
    static func family(_ name: LineProtocolName) -> LineFamily {
        LineFamily(name: name, addressDigits: 12) { spec, builder throws(SimulatorError) in
            var meters: [DLT645SimulatedMeter] = []
            for d in spec.devices {
                let device = try builder.device(d, on: spec.id)
                guard let text = d.address, let address = try? DLT645Address(text) else {
                    throw SimulatorError("\(d.location): DL/T 645 meter without a 12-digit address")
                }
                meters.append(DLT645SimulatedMeter(address: address, device: device, password: d.password ?? "000000", esam: d.esam))
            }
            return try builder.line(spec.id) { () throws(PseudoTerminalError) in
                try DLT645LineServer(id: spec.id, settings: spec.settings, meters: meters, clock: builder.clock, seed: builder.seed(for: spec.id))
            }
        }
    }

    public var devices: [SimulatedDevice] { meters.map(\.device) }
    public var listing: [String] { meters.map { $0.device.listing(on: id, address: "\($0.address)", state: $0.stateSummary) } }

    /// A meter by its unit number on the line (1, 2, … in scenario order) or its 12-digit address.
    public func meter(_ key: String) -> DLT645SimulatedMeter? {
        if key.count == 12, let address = try? DLT645Address(key), let meter = meters.first(where: { $0.address == address }) { return meter }
        if let unit = UInt8(key) { return meters.first { $0.device.unit.rawValue == unit } }
        return nil
    }

    public func device(key: String) -> SimulatedDevice? { meter(key)?.device }

    public func start() throws(SimulatorError) {
        try line.start { [self] in
            // A partial frame older than this is dropped (a master that died mid-frame).
            let staleAfter = max(0.5, 30 * line.framing.seconds(forBytes: 1))
            line.serve(DLT645RequestDecoder(), staleAfter: staleAfter) { frame, request in handle(frame, request) }
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: DLT645Frame, _ request: LineRequest) -> Bool {
        let addressed = meters.filter { $0.isAddressed(by: frame) }
        let requestBytes = frame.data.count + DLT645Frame.overhead + 4
        if frame.address.isBroadcast {
            for meter in addressed where line.hears(meter.device) { _ = meter.respond(to: frame, at: clock.now()) }
            return line.ignore()
        }
        return line.answer(request, requestBytes: requestBytes, addressed: addressed, device: \.device) {
            answer(frame, from: $0, request: request)
        }
    }

    /// `meter`'s reply to `frame` on the wire, its faults applied; nil when it stays silent.
    private func answer(_ frame: DLT645Frame, from meter: DLT645SimulatedMeter, request: LineRequest) -> [UInt8]? {
        meter.device.countRequest()
        let faults = meter.device.faults
        guard !faults.noReply, var reply = meter.respond(to: frame, at: clock.now()) else { return nil }
        if let code = faults.exception {
            reply = DLT645Reply.errorReply(to: frame, from: meter.address, error: DLT645ErrorBits(rawValue: code))
        }
        if faults.wrongUnit {
            var wire = reply.address.wire
            wire[0] = DLT645BCD.byte((((try? DLT645BCD.value(wire[0])) ?? 0) + 1) % 100)
            reply.address = (try? DLT645Address(wire: wire)) ?? reply.address
        }
        guard let bytes = try? reply.encoded(preamble: 4) else { return nil }
        return faults.corrupting(bytes, random: request.random)
    }
}
