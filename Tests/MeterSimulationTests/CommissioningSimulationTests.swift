import Foundation
import MeterCore
import MeterProtocols
@testable import MeterSimulation
import Testing

/// Simulated Modbus meters honour what `meteragent commission` writes to the registers their
/// profile declares: at once after the reply, or at the next restart, as the profile says.
@Suite struct CommissioningSimulationTests {
    static let afterReply = """
    manufacturer: X
    model: Y
    medium: electricity
    serial: {baud: 9600}
    settings:
      unit_id: {register: 0x0100}
      baud: {register: 0x0101, codes: {9600: 3, 19200: 4}}
      ct_ratio: {register: 0x0102, range: [1, 5000]}
      takes_effect: after_reply
    points:
      - {name: voltage.l1, table: input, address: 0, type: f32}
    """

    /// A write-multiple RTU request for one register, as libmodbus sends it.
    static func write(_ responder: ModbusResponder, unit: UInt8, _ address: UInt16, _ value: UInt16) -> PlannedReply? {
        let adu = ModbusCRC.appending(to: [unit, 0x10, UInt8(address >> 8), UInt8(address & 0xFF), 0, 1, 2, UInt8(value >> 8), UInt8(value & 0xFF)])
        return responder.respond(to: adu, unit: unit, pdu: adu[1..<(adu.count - 2)])
    }

    static func readHolding(_ responder: ModbusResponder, unit: UInt8, _ address: UInt16, count: UInt16) -> [UInt8]? {
        let adu = ModbusCRC.appending(to: [unit, 0x03, UInt8(address >> 8), UInt8(address & 0xFF), 0, UInt8(count)])
        return responder.respond(to: adu, unit: unit, pdu: adu[1..<(adu.count - 2)])?.bytes
    }

    @Test func settingsTakeEffectRightAfterTheReply() throws {
        let profile = try ProfileLoader.load(text: Self.afterReply, file: "t.yaml", name: "t")
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 1, clock: ManualClock())
        let responder = try ModbusResponder(framing: .rtu, devices: [device], seed: 1)
        // The registers hold the meter's own settings before anything is written.
        #expect(Self.readHolding(responder, unit: 1, 0x0100, count: 2)?.dropFirst(3).prefix(4) == [0, 1, 0, 3])

        #expect(Self.write(responder, unit: 1, 0x0102, 200) != nil)
        #expect(device.value(of: "settings.ct_ratio") == 200)
        #expect(Self.write(responder, unit: 1, 0x0101, 4) != nil, "answered at the old rate")
        #expect(device.baud == 19200)
        let reply = try #require(Self.write(responder, unit: 1, 0x0100, 9))
        #expect(reply.bytes.first == 1, "the reply still comes from the old unit")
        #expect(device.unit == UnitID(9))
        #expect(Self.readHolding(responder, unit: 1, 0x0100, count: 1) == nil, "nothing at the old unit")
        #expect(Self.readHolding(responder, unit: 9, 0x0100, count: 3)?.dropFirst(3).prefix(6) == [0, 9, 0, 4, 0, 200])
        #expect(device.commissionedSettings == ["settings.unit_id=9", "settings.baud=19200", "settings.ct_ratio=200"])
    }

    @Test func aModelWithAnUnlockStepRefusesSettingsUntilUnlocked() throws {
        let text = Self.afterReply.replacingOccurrences(of: "settings:\n", with: "settings:\n  unlock: {register: 0x0200, value: 1234}\n")
        let profile = try ProfileLoader.load(text: text, file: "t.yaml", name: "t")
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 1, clock: ManualClock())
        let responder = try ModbusResponder(framing: .rtu, devices: [device], seed: 1)
        let refused = try #require(Self.write(responder, unit: 1, 0x0100, 9))
        #expect(refused.bytes[1] == 0x90 && refused.bytes[2] == 0x03, "exception 03 while locked")
        #expect(Self.write(responder, unit: 1, 0x0200, 1111) != nil)
        #expect(Self.write(responder, unit: 1, 0x0100, 9)?.bytes[1] == 0x90, "a wrong unlock value leaves it locked")
        #expect(device.unit == UnitID(1))
        #expect(Self.write(responder, unit: 1, 0x0200, 1234)?.bytes[1] == 0x10)
        #expect(Self.write(responder, unit: 1, 0x0100, 9)?.bytes[1] == 0x10)
        #expect(device.unit == UnitID(9))
        device.restart()
        #expect(Self.write(responder, unit: 9, 0x0100, 10)?.bytes[1] == 0x90, "locked again after a restart")
    }

    @Test func anEastronMeterWaitsForARestart() throws {
        let profile = try TestPaths.profile("eastron-sdm630")
        let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 1, clock: ManualClock())
        let responder = try ModbusResponder(framing: .rtu, devices: [device], seed: 1)
        let seven = try #require(profile.settings?.registers[.unitID]).point("unit_id")
        let words = try seven.encode(7)
        let adu = ModbusCRC.appending(to: [1, 0x10, 0x00, 0x14, 0, 2, 4, UInt8(words[0] >> 8), UInt8(words[0] & 0xFF), UInt8(words[1] >> 8), UInt8(words[1] & 0xFF)])
        #expect(responder.respond(to: adu, unit: 1, pdu: adu[1..<(adu.count - 2)]) != nil)
        #expect(device.unit == UnitID(1), "an SDM630 keeps its unit until it restarts")
        #expect(device.commissionedSettings == ["settings.unit_id=7 (after restart)"])
        device.restart()
        #expect(device.unit == UnitID(7))
        #expect(device.commissionedSettings == ["settings.unit_id=7"])
    }

    @Test func twoMetersAtOneUnitCollideOnTheLine() throws {
        let profile = try TestPaths.profile("eastron-sdm630")
        let devices = [1, 2].map { SimulatedDevice(unit: UnitID(1), profile: profile, seed: UInt64($0), clock: ManualClock()) }
        let responder = try ModbusResponder(framing: .rtu, devices: devices, seed: 1)
        let adu = ModbusCRC.appending(to: [1, 0x04, 0, 0, 0, 2])
        let replies = responder.respondAll(to: adu, unit: 1, pdu: adu[1..<(adu.count - 2)], where: { _ in true })
        #expect(replies.count == 2)
        let wire = PacedLine.collide(replies.map(\.bytes))
        #expect(wire.count == replies[0].bytes.count)
        #expect(!ModbusCRC.isValid(wire), "the overlapped reply fails its CRC")
    }
}
