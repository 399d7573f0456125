import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// A simulated M-Bus/RS-485 line of CJ/T 188 meters on a pty: several addresses on one line,
/// replies paced at the line's baud rate after the request's own time on the wire, the same
/// faults as Modbus devices (no reply, delay, bad checksum, garbage, wrong address, error reply),
/// and silence for frames to any other meter, as on a real bus.
public final class CJT188LineServer: SerialLineServer {
    public let meters: [CJT188SimulatedMeter]
    let clock: any SimulationClock
    public let line: PacedLine

    public init(id: String, settings: SerialSettings, meters: [CJT188SimulatedMeter], clock: any SimulationClock,
                seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.meters = meters
        self.clock = clock
        line = try PacedLine(id: id, settings: settings, seed: seed)
    }

    static let family = LineFamily(name: .cjt188, addressDigits: 14) { spec, builder throws(SimulatorError) in
        var meters: [CJT188SimulatedMeter] = []
        for d in spec.devices {
            let device = try builder.device(d, on: spec.id)
            guard let text = d.address, let address = CJT188Address(written: text) else {
                throw SimulatorError("\(d.location): CJ/T 188 meter without a 14-digit address")
            }
            meters.append(CJT188SimulatedMeter(address: address, meterType: CJT188SimulatedMeter.meterType(for: device.profile),
                                               device: device, diOrder: d.diOrder))
        }
        return try builder.line(spec.id) { () throws(PseudoTerminalError) in
            try CJT188LineServer(id: spec.id, settings: spec.settings, meters: meters, clock: builder.clock, seed: builder.seed(for: spec.id))
        }
    }

    public var devices: [SimulatedDevice] { meters.map(\.device) }
    public var listing: [String] { meters.map { $0.device.listing(on: id, address: "\($0.address)") } }

    /// A meter by its unit number on the line (1, 2, … in scenario order) or its 14-digit address.
    public func meter(_ key: String) -> CJT188SimulatedMeter? {
        if let address = CJT188Address(written: key), let meter = meters.first(where: { $0.address == address }) { return meter }
        if let unit = UInt8(key) { return meters.first { $0.device.unit.rawValue == unit } }
        return nil
    }

    public func device(key: String) -> SimulatedDevice? { meter(key)?.device }

    public func start() throws(SimulatorError) {
        try line.start { [self] in
            line.serve(CJT188StreamDecoder(), staleAfter: line.characterGap) { frame, request in handle(frame, request) }
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: CJT188Frame, _ request: LineRequest) -> Bool {
        let addressed = meters.filter { $0.isAddressed(by: frame) }
        let requestBytes = frame.data.count + CJT188Frame.overhead
        return line.answer(request, requestBytes: requestBytes, addressed: addressed, device: \.device) {
            answer(frame, from: $0, request: request)
        }
    }

    /// `meter`'s reply to `frame` on the wire, its faults applied; nil when it stays silent.
    private func answer(_ frame: CJT188Frame, from meter: CJT188SimulatedMeter, request: LineRequest) -> [UInt8]? {
        meter.device.countRequest()
        let faults = meter.device.faults
        guard !faults.noReply, var reply = meter.respond(to: frame, at: clock.now()) else { return nil }
        if faults.wrongUnit {
            var wire = reply.address.wire
            wire[0] = CJT188BCD.byte((CJT188BCD.value(wire[0]) ?? 0) + 1)
            reply.address = CJT188Address(wire: wire) ?? reply.address
        }
        return faults.corrupting(reply.encoded(preamble: 2), random: request.random)
    }
}
