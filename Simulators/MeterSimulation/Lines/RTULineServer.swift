import Foundation
import MeterCore
import MeterIO
import MeterProtocols

/// One simulated RS-485 line: a pty whose slave end a client opens like a serial port, with
/// several unit ids on it. Requests for units not on the line get no answer, as on a real bus.
///
/// Replies keep a real line's timing (see `PacedLine`), so a simulated line carries as many
/// transactions per second as a real one (about 24/s for 10 registers at 9600 8N1).
public final class RTULineServer: SerialLineServer {
    public let devices: [SimulatedDevice]
    public let line: PacedLine

    public init(id: String, settings: SerialSettings, devices: [SimulatedDevice], seed: UInt64 = 1) throws(PseudoTerminalError) {
        self.devices = devices
        line = try PacedLine(id: id, settings: settings, seed: seed)
    }

    static let family = LineFamily(name: .modbus, addressDigits: nil) { spec, builder throws(SimulatorError) in
        let devices = try builder.devices(spec.devices, on: spec.id)
        return try builder.line(spec.id) { () throws(PseudoTerminalError) in
            try RTULineServer(id: spec.id, settings: spec.settings, devices: devices, seed: builder.seed(for: spec.id))
        }
    }


    public func start() throws(SimulatorError) {
        // Built here so that a libmodbus failure is reported to the caller, then moved to the thread.
        let box: UncheckedBox<ModbusResponder>
        do { box = UncheckedBox(try ModbusResponder(framing: .rtu, devices: devices, seed: line.seed)) } catch { throw SimulatorError("\(error)") }
        try line.start { [self] in
            let responder = box.take()
            line.serve(ModbusRTUFramer(direction: .request), staleAfter: line.characterGap) { frame, request in
                handle(frame, request, responder: responder)
            }
        }
    }

    /// Returns false when the server is stopping.
    private func handle(_ frame: ModbusRTUFrame, _ request: LineRequest, responder: ModbusResponder) -> Bool {
        // Broadcast: every device that hears the client applies a write, nobody answers.
        if frame.unit == 0 {
            for device in devices where line.hears(device) { _ = responder.respond(to: frame.bytes, unit: device.unit.rawValue, pdu: frame.pdu) }
            return true
        }
        // Every meter at the unit answers; one at another rate than the client's hears noise.
        let addressed = devices.filter { $0.unit.rawValue == frame.unit }
        if let deaf = addressed.first, !addressed.contains(where: line.hears) {
            return line.mismatch(request, requestBytes: frame.bytes.count, device: deaf)
        }
        let replies = responder.respondAll(to: frame.bytes, unit: frame.unit, pdu: frame.pdu, where: line.hears)
        guard let reply = replies.first else { return line.ignore() }
        // Meters sharing a unit (factory-fresh ones) all answer: the client reads one garbled frame.
        let bytes = replies.count == 1 ? reply.bytes : PacedLine.collide(replies.map(\.bytes))
        return line.reply(bytes, to: request, requestBytes: frame.bytes.count, delay: Double(reply.delayMs) / 1000,
                          framing: addressed.first(where: line.hears).map(line.framing(of:)))
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
