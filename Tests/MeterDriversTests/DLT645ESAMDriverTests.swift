import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterSimulation
import Testing

/// `esam.forward` through the DL/T 645 driver on a `SerialLineBus` against a simulated ESAM meter
/// on a pty: the head-end's blocks framed with the meter's address, sent in order, stopped at the
/// first refusal, the raw replies and their meaning returned, the relay read back.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DLT645ESAMDriverTests {
    static let key = Hex.parse("00112233445566778899AABBCCDDEEFF")!
    static let random1: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
    static let scheme = ESAMKeyedScheme(key: key)

    final class Line {
        let server: DLT645LineServer
        let bus: SerialLineBus
        let meter: DLT645SimulatedMeter

        init() throws {
            let clock = SystemClock()
            let profile = try ProfileLoader.load(path: Paths.profiles + "/dlt645-2007-csg.yaml")
            let device = SimulatedDevice(unit: UnitID(1), profile: profile, seed: 5, clock: clock)
            meter = DLT645SimulatedMeter(address: try DLT645Address("202611250303"), device: device, password: "123456",
                                         esam: ESAMSettings(key: DLT645ESAMDriverTests.key))
            server = try DLT645LineServer(id: "line", settings: SerialSettings(baud: 9600), meters: [meter], clock: clock)
            try server.start()
            bus = SerialLineBus(config: BusConfig(id: BusID("line"), transport: .serial(port: server.slavePath, settings: SerialSettings(baud: 9600), rs485: false),
                                                  protocolName: .dlt645, timeoutMs: 500, retries: 0))
        }

        func driver(_ address: String = "202611250303", profile: String = "dlt645-2007-csg") throws -> DLT645MeterDriver {
            let loaded = try ProfileLoader.load(path: Paths.profiles + "/\(profile).yaml")
            return try DLT645MeterDriver(device: DeviceConfig(id: DeviceID("esam-1"), bus: BusID("line"), address: address, profile: loaded), bus: bus)
        }

        deinit {
            bus.close()
            server.stop()
        }
    }

    static func authentication(for address: String = "202611250303") throws -> ESAMBlock {
        ESAMBlock(control: 0x03, data: scheme.authenticationData(random1: random1, meter: try DLT645Address(address)))
    }

    static func control(_ action: DLT645RelayAction = .trip, random1: [UInt8] = random1) -> ESAMBlock {
        ESAMBlock(control: 0x1C, data: scheme.relayControlData(random1: random1, action: action.rawValue,
                                                               deadline: MeterDateTime(year: 2099, month: 1, day: 1), password: [0x56, 0x34, 0x12]))
    }

    static func observed(_ outcome: CommandOutcome, _ name: String) -> Bool? {
        guard case let .bool(value)? = outcome.observed.first(where: { $0.point.rawValue == name })?.value else { return nil }
        return value
    }

    @Test func authenticationAndEncryptedTripOpenTheRelayAndComeBackAsRawReplies() async throws {
        let line = try Line()
        let outcome = try await line.driver().execute(.esamForward([try Self.authentication(), Self.control()]), now: WallClock.nowMs)
        #expect(outcome.status == .confirmed, "\(outcome)")
        #expect(outcome.replies.map(\.control) == [0x83, 0x9C])
        #expect(outcome.replies[0].data.count == 16 && outcome.replies[0].data.prefix(4).elementsEqual([0xFF, 0x00, 0x00, 0x07]))
        #expect(outcome.replies.allSatisfy { $0.error == nil })
        #expect(outcome.message.contains("frame 1 (0x03): identity authentication accepted (random 2 "))
        #expect(outcome.message.contains("frame 2 (0x1C): relay control accepted; now relay open, command off"), "\(outcome.message)")
        #expect(Self.observed(outcome, "relay.open") == true)
        #expect(line.meter.device.value(of: "relay.state") == 0)
        // The session is still open: a direct close on its own closes again.
        let close = try await line.driver().execute(.esamForward([Self.control(.directClose)]), now: WallClock.nowMs)
        #expect(close.status == .confirmed && Self.observed(close, "relay.open") == false)
    }

    @Test func aWrongMACIsTheMetersRefusalWithItsRawReply() async throws {
        let line = try Line()
        var tampered = Self.control()
        tampered.data[27] ^= 0x01
        let outcome = try await line.driver().execute(.esamForward([try Self.authentication(), tampered]), now: WallClock.nowMs)
        #expect(outcome.status == .rejected && outcome.quality == .meterError(0x02))
        #expect(outcome.replies.map(\.control) == [0x83, 0xDC])
        #expect(outcome.replies[1] == ForwardedReply(control: 0xDC, data: [0x02, 0x00], error: "error word 0002: MAC check failed"))
        #expect(outcome.message.contains("frame 2 (0x1C): relay control refused: error word 0002: MAC check failed"))
        #expect(Self.observed(outcome, "relay.open") == false)
        #expect(line.meter.device.value(of: "relay.state") == 1)
    }

    @Test func aRefusedAuthenticationStopsTheSequence() async throws {
        let line = try Line()
        let before = line.server.statistics.frames
        let outcome = try await line.driver().execute(.esamForward([try Self.authentication(for: "202611250399"), Self.control()]),
                                                      now: WallClock.nowMs)
        #expect(outcome.status == .rejected)
        #expect(outcome.replies == [ForwardedReply(control: 0xC3, data: [0x08, 0x00], error: "SERR 0008: identity authentication failed")])
        // The authentication and the read-back of status word 3; the 0x1C never went out.
        #expect(line.server.statistics.frames == before + 2)
        // Without a session, an encrypted command alone is refused too.
        let alone = try await line.driver().execute(.esamForward([Self.control()]), now: WallClock.nowMs)
        #expect(alone.status == .rejected && alone.replies.map(\.data) == [[0x08, 0x00]])
        #expect(alone.message.contains("identity authentication timed out or missing"))
        // A meter that answers everything with its error byte (the older 1-byte form).
        var faults = DeviceFaults()
        try faults.set("exception", to: "4")
        line.meter.device.setFaults(faults)
        let refused = try await line.driver().execute(.esamForward([try Self.authentication(), Self.control()]), now: WallClock.nowMs)
        #expect(refused.status == .rejected && refused.quality == .meterError(0x04) && refused.observed.isEmpty)
        #expect(refused.replies == [ForwardedReply(control: 0xC3, data: [0x04], error: "error byte 04: unauthorised (wrong password or level)")])
        #expect(refused.message.contains("read-back failed"), "\(refused.message)")
    }

    @Test func aSilentMeterFailsWithoutRepliesOrReadBack() async throws {
        let line = try Line()
        let outcome = try await line.driver("202611250399").execute(.esamForward([try Self.authentication(), Self.control()]), now: WallClock.nowMs)
        #expect(outcome.status == .failed && outcome.quality == .timeout && outcome.replies.isEmpty && outcome.observed.isEmpty)
        #expect(outcome.message.contains("frame 1 (0x03): timeout"), "\(outcome.message)")
    }

    @Test func blocksTheAgentDoesNotForwardNeverReachTheLine() async throws {
        let line = try Line()
        let before = line.server.statistics.frames
        let outcome = try await line.driver().execute(.esamForward([try Self.authentication(), ESAMBlock(control: 0x14, data: [0, 1, 2, 3])]),
                                                      now: WallClock.nowMs)
        #expect(outcome.status == .failed && outcome.message.contains("frame 2 of 2: value out of range: control 0x14 is not forwarded"))
        #expect(line.server.statistics.frames == before)
        let old = try await line.driver(profile: "dlt645-1997-generic").execute(.esamForward([try Self.authentication()]), now: WallClock.nowMs)
        #expect(old.status == .unsupported)
    }
}
