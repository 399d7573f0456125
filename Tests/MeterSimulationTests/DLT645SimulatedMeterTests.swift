import MeterCore
import MeterProtocols
import Testing
@testable import MeterSimulation

/// The simulated DL/T 645 meter, frame in, frame out: silence where a real meter is silent,
/// error bits where it refuses, physics behind the relay.
@Suite struct DLT645SimulatedMeterTests {
    /// The manual clock, with `t` for brevity.
    final class FixedClock: SimulationClock {
        let manual: ManualClock
        init(_ t: Double) { manual = ManualClock(start: t) }
        func now() -> Double { manual.now() }
        var t: Double {
            get { manual.now() }
            set { manual.set(newValue) }
        }
    }

    static func meter(profile: String = "dlt645-2007-generic", password: String = "000000", clock: FixedClock) throws -> DLT645SimulatedMeter {
        let loaded = try TestPaths.profile(profile)
        let device = SimulatedDevice(unit: UnitID(1), profile: loaded, seed: 3, clock: clock)
        return DLT645SimulatedMeter(address: try DLT645Address("121078563412"), device: device, password: password)
    }

    static func relay(_ action: DLT645RelayAction, password: String = "000000", level: UInt8 = 2,
                      deadline: MeterDateTime = MeterDateTime(year: 2099, month: 1, day: 1)) throws -> DLT645Frame {
        try DLT645Request.relayControl(DLT645RelayCommand(passwordLevel: level, password: password, operatorCode: "00000001",
                                                          action: action, deadline: deadline), to: try DLT645Address("121078563412"))
    }

    @Test func answersReadsWithTheModelsValueAndUnknownIdentifiersWithNoData() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(clock: clock)
        meter.device.set("energy.import.total", to: 12345.678)
        let request = DLT645Request.read(.forwardActiveEnergy, from: meter.address)
        let reply = try #require(meter.respond(to: request, at: clock.t))
        // Cut to the register's 0.01 kWh, never rounded up to energy not yet used.
        #expect(try DLT645Reply.read(reply, answering: request).payload == [0x67, 0x45, 0x23, 0x01])
        let unknown = DLT645Request.read(DLT645DataID(0x0101_0000), from: meter.address)
        #expect(meter.respond(to: unknown, at: clock.t) == DLT645Reply.errorReply(to: unknown, from: meter.address, error: .noData))
    }

    @Test func staysSilentForBroadcastsAndRepliesFromMeters() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(clock: clock)
        #expect(meter.respond(to: DLT645Request.broadcastTime(MeterDateTime(year: 2030, month: 1, day: 1)), at: clock.t) == nil)
        let echo = DLT645Reply.readReply(to: DLT645Request.read(.totalActiveEnergy, from: meter.address), from: meter.address, payload: [0, 0, 0, 0])
        #expect(meter.respond(to: echo, at: clock.t) == nil)
        #expect(!meter.isAddressed(by: DLT645Request.read(.totalActiveEnergy, from: try DLT645Address("121078563413"))))
        #expect(meter.isAddressed(by: DLT645Request.read(.totalActiveEnergy, from: try DLT645Address("AAAAAAAA3412"))))
    }

    @Test func relayChecksPasswordLevelDeadlineAndKeepPower() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(password: "123456", clock: clock)
        let unauthorised = DLT645Frame(address: meter.address, control: DLT645Control(rawValue: 0xDC), data: [0x04])
        #expect(meter.respond(to: try Self.relay(.trip, password: "000000"), at: clock.t) == unauthorised)
        #expect(meter.respond(to: try Self.relay(.trip, password: "123456", level: 4), at: clock.t) == unauthorised)
        #expect(meter.respond(to: try Self.relay(.trip, password: "123456", deadline: MeterDateTime(year: 2020, month: 1, day: 1)), at: clock.t) == unauthorised)
        #expect(!meter.statusWord3().relayOpen)
        #expect(meter.respond(to: try Self.relay(.keepPower, password: "123456"), at: clock.t)?.control.rawValue == 0x9C)
        #expect(meter.respond(to: try Self.relay(.trip, password: "123456"), at: clock.t) == unauthorised)
        #expect(meter.respond(to: try Self.relay(.releaseKeepPower, password: "123456"), at: clock.t)?.control.rawValue == 0x9C)
        #expect(meter.respond(to: try Self.relay(.trip, password: "123456"), at: clock.t)?.control.rawValue == 0x9C)
        #expect(meter.statusWord3().relayOpen && meter.statusWord3().relayCommandOff)
        #expect(meter.device.modelValues()["power.active.total"] == 0, "the relay cuts the load")
    }

    @Test func energyStopsWhileTheRelayIsOpen() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(clock: clock)
        meter.device.set("power.active.total", to: 3600)
        _ = meter.respond(to: try Self.relay(.trip), at: clock.t)
        let before = meter.device.value(of: "energy.import.total")!
        clock.t += 3600
        #expect(meter.device.value(of: "energy.import.total") == before)
        _ = meter.respond(to: try Self.relay(.directClose), at: clock.t)
        clock.t += 3600
        #expect(abs(meter.device.value(of: "energy.import.total")! - before - 3.6) < 1e-6)
    }

    @Test func timeSyncWithinFiveMinutesMovesTheClock() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(clock: clock)
        let now = meter.clock(at: clock.t)
        let ahead = MeterDateTime(secondsSince1970: now.secondsSince1970 + 200)
        _ = meter.respond(to: DLT645Request.broadcastTime(ahead), at: clock.t)
        #expect(meter.clock(at: clock.t) == ahead)
        let far = MeterDateTime(secondsSince1970: ahead.secondsSince1970 + 3600)
        _ = meter.respond(to: DLT645Request.broadcastTime(far), at: clock.t)
        #expect(meter.clock(at: clock.t) == ahead)
    }

    @Test func meters1997AnswerTwoByteIdentifiers() throws {
        let clock = FixedClock(1_800_000_000)
        let meter = try Self.meter(profile: "dlt645-1997-generic", clock: clock)
        meter.device.set("energy.import.total", to: 77.5)
        let request = DLT645Request.read1997(.v1997(0x9010), from: meter.address)
        let reply = try #require(meter.respond(to: request, at: clock.t))
        #expect(reply.control.rawValue == 0x81)
        #expect(try DLT645Reply.read(reply, answering: request).payload == [0x50, 0x77, 0x00, 0x00])
    }
}
