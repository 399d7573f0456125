import MeterCore
import MeterProtocols
import Testing
@testable import MeterSimulation

/// The simulated ESAM meter, frame in, frame out: no trip in plaintext; identity authentication,
/// then an encrypted relay command whose MAC verifies within the session; every other case refused
/// with the error reply such meters send. Time moves on a manual clock.
@Suite struct SimulatedESAMTests {
    static let key = Hex.parse("00112233445566778899AABBCCDDEEFF")!
    static let random1: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    static let password: [UInt8] = [0x56, 0x34, 0x12]      // 123456, wire order
    static let operatorCode: [UInt8] = [0x02, 0x03, 0, 0]  // 00000302
    static let farDeadline = MeterDateTime(year: 2099, month: 1, day: 1)
    let scheme = ESAMKeyedScheme(key: SimulatedESAMTests.key)
    let clock = DLT645SimulatedMeterTests.FixedClock(1_800_000_000)

    func meter(profile: String = "dlt645-2007-csg", sessionSeconds: Double = 60) throws -> DLT645SimulatedMeter {
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile(profile), seed: 3, clock: clock)
        return DLT645SimulatedMeter(address: try DLT645Address("202611250303"), device: device, password: "123456",
                                    esam: ESAMSettings(key: Self.key, sessionSeconds: sessionSeconds))
    }

    func authentication(_ meter: DLT645SimulatedMeter, for address: DLT645Address? = nil, random1: [UInt8] = random1) -> DLT645Frame {
        DLT645Frame(address: meter.address, control: .securityAuthentication,
                    data: scheme.authenticationData(random1: random1, meter: address ?? meter.address, operatorCode: Self.operatorCode))
    }

    func control(_ meter: DLT645SimulatedMeter, _ action: DLT645RelayAction, random1: [UInt8] = random1,
                 deadline: MeterDateTime = farDeadline, password: [UInt8] = password) -> DLT645Frame {
        DLT645Frame(address: meter.address, control: .relayControl,
                    data: scheme.relayControlData(random1: random1, action: action.rawValue, deadline: deadline,
                                                  password: password, operatorCode: Self.operatorCode))
    }

    func send(_ frame: DLT645Frame, to meter: DLT645SimulatedMeter) throws -> (control: UInt8, data: [UInt8]) {
        let reply = try #require(meter.respond(to: frame, at: clock.t))
        return (reply.control.rawValue, reply.data)
    }

    @Test func sha256AndHMACMatchThePublishedVectors() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map(Hex.byte).joined().lowercased() }
        // FIPS 180-4 examples.
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 4231 test cases 2 and 6 (a key longer than a block).
        #expect(hex(SHA256.hmac(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(hex(SHA256.hmac(key: [UInt8](repeating: 0xAA, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    /// `TZ=UTC esam_headend.py frames --key 00112233445566778899AABBCCDDEEFF --address 202611250303
    /// --random 0102030405060708 --deadline-at 4070908800 --password 123456 --operator 00000302`:
    /// the Python head-end (hmac, hashlib) and this scheme make the same bytes.
    @Test func theSchemeMakesThePythonHeadEndsBytes() throws {
        let meter = try DLT645Address("202611250303")
        #expect(scheme.authenticationData(random1: Self.random1, meter: meter, operatorCode: Self.operatorCode)
                == Hex.parse("FF000007020300003608D11CF632AC6F01020304050607080000030325112620"))
        #expect(scheme.relayControlData(random1: Self.random1, action: 0x1A, deadline: Self.farDeadline, password: Self.password,
                                        operatorCode: Self.operatorCode)
                == Hex.parse("96563412020300002479F2C675FF6B0371AC384B60E023BD898ED8BD"))
    }

    @Test func refusesAPlaintextTripEvenWhenItsProfileAllowsOne() throws {
        let meter = try meter(profile: "dlt645-2007-generic")
        let plaintext = try DLT645SimulatedMeterTests.relay(.trip, password: "123456", level: 2)
        #expect(try send(plaintext, to: meter) == (0xDC, [0x04]))
        #expect(meter.device.value(of: "relay.state") == 1)
        // Plaintext commands the profile accepts still work.
        #expect(try send(try DLT645SimulatedMeterTests.relay(.alarm, password: "123456", level: 2), to: meter).control == 0x9C)
    }

    @Test func authenticationThenAnEncryptedTripCutsTheLoad() throws {
        let meter = try meter()
        meter.device.set("power.active.total", to: 2000)
        let reply = try send(authentication(meter), to: meter)
        #expect(reply.control == 0x83)
        #expect(reply.data.count == 16 && reply.data.prefix(4).elementsEqual([0xFF, 0x00, 0x00, 0x07]))
        #expect(reply.data.suffix(8).elementsEqual(meter.esam!.serial(of: meter.address)))
        #expect(try send(control(meter, .trip), to: meter) == (0x9C, []))
        #expect(meter.device.value(of: "relay.state") == 0)
        #expect(meter.statusWord3().relayOpen && meter.statusWord3().relayCommandOff)
        // The session stays open for more commands: the head-end can reconnect directly.
        clock.t += 10
        #expect(try send(control(meter, .directClose), to: meter) == (0x9C, []))
        #expect(meter.device.value(of: "relay.state") == 1)
        // Every authentication brings a new random 2.
        let again = try send(authentication(meter), to: meter)
        #expect(again.data[4..<8] != reply.data[4..<8])
    }

    @Test func aWrongMACIsRefusedAndEndsTheSession() throws {
        let meter = try meter()
        _ = try send(authentication(meter), to: meter)
        var tampered = control(meter, .trip)
        tampered.data[27] ^= 0x01
        #expect(try send(tampered, to: meter) == (0xDC, [0x02, 0x00]))
        // A command made for another session carries another MAC.
        #expect(try send(control(meter, .trip), to: meter) == (0xDC, [0x08, 0x00]), "the session ended with the MAC failure")
        _ = try send(authentication(meter), to: meter)
        #expect(try send(control(meter, .trip, random1: [9, 9, 9, 9, 9, 9, 9, 9]), to: meter) == (0xDC, [0x02, 0x00]))
        #expect(meter.device.value(of: "relay.state") == 1)
    }

    @Test func withoutAuthenticationOrAfterTheSessionNoEncryptedCommandIsTaken() throws {
        let meter = try meter(sessionSeconds: 30)
        #expect(try send(control(meter, .trip), to: meter) == (0xDC, [0x08, 0x00]))
        _ = try send(authentication(meter), to: meter)
        #expect(meter.esam?.sessionOpen(at: clock.t) == true)
        clock.t += 31
        #expect(meter.esam?.sessionOpen(at: clock.t) == false)
        #expect(try send(control(meter, .trip), to: meter) == (0xDC, [0x08, 0x00]))
        #expect(meter.device.value(of: "relay.state") == 1)
    }

    @Test func aFailedAuthenticationAnswersSERR() throws {
        let meter = try meter()
        // Made for another meter: the diversification factor names it.
        #expect(try send(authentication(meter, for: try DLT645Address("202611250304")), to: meter) == (0xC3, [0x08, 0x00]))
        var forged = authentication(meter)
        forged.data[8] ^= 0xFF
        #expect(try send(forged, to: meter) == (0xC3, [0x08, 0x00]))
        // Recharge and key updates (other 07xxxxxx identifiers) are not simulated.
        let recharge = DLT645Frame(address: meter.address, control: .securityAuthentication, data: [0xFF, 0x02, 0x01, 0x07] + [UInt8](repeating: 0, count: 28))
        #expect(try send(recharge, to: meter) == (0xC3, [0x01, 0x00]))
        #expect(try send(control(meter, .trip), to: meter).data == [0x08, 0x00])
    }

    @Test func encryptedCommandsStillNeedThePasswordADeadlineAndNoKeepPower() throws {
        let meter = try meter()
        _ = try send(authentication(meter), to: meter)
        #expect(try send(control(meter, .trip, password: [0, 0, 0]), to: meter) == (0xDC, [0x04, 0x00]))
        #expect(try send(control(meter, .trip, deadline: MeterDateTime(year: 2020, month: 1, day: 1)), to: meter) == (0xDC, [0x10, 0x00]))
        #expect(try send(control(meter, .keepPower), to: meter) == (0x9C, []))
        #expect(try send(control(meter, .trip), to: meter) == (0xDC, [0x20, 0x00]))
        #expect(meter.device.value(of: "relay.state") == 1)
    }

    @Test func aMeterWithoutESAMAnswersSecurityFramesWithAnError() throws {
        let device = SimulatedDevice(unit: UnitID(1), profile: try TestPaths.profile("dlt645-2007-csg"), seed: 3, clock: clock)
        let plain = DLT645SimulatedMeter(address: try DLT645Address("202611250303"), device: device)
        #expect(try send(authentication(plain), to: plain) == (0xC3, [0x01]))
    }

    @Test func scenarioGivesAMeterItsESAM() throws {
        let text = """
        lines:
          - id: dlt
            protocol: dlt645
            devices:
              - {address: "202611250303", profile: dlt645-2007-csg, esam: {key: "00112233445566778899AABBCCDDEEFF", session_s: 5}}
              - {address: "202611250304", profile: dlt645-2007-csg, esam: {key: "0011"}}
              - {address: "202611250305", profile: dlt645-2007-csg, esam: {key: "00112233445566778899AABBCCDDEEFF", session_s: 0}}
          - id: modbus
            devices:
              - {unit: 1, profile: eastron-sdm120, esam: {key: "00112233445566778899AABBCCDDEEFF"}}
        """
        #expect {
            _ = try ScenarioLoader.parse(text: text, file: "s.yaml")
        } throws: { error in
            let messages = (error as? ConfigErrors)?.errors.map(\.description) ?? []
            return messages == [
                "s.yaml:6:73: bad ESAM key (expected 32 hex digits in quotes)",
                "s.yaml:7:120: 0 is out of range 1…86400",
                "s.yaml:10:50: 'esam' is for DL/T 645-2007 lines (protocol: dlt645)",
            ]
        }
        let good = try ScenarioLoader.parse(text: """
            lines:
              - id: dlt
                protocol: dlt645
                devices:
                  - {address: "202611250303", profile: dlt645-2007-csg, esam: {key: "00112233445566778899AABBCCDDEEFF", session_s: 5}}
            """, file: "s.yaml")
        #expect(good.lines[0].devices[0].esam == ESAMSettings(key: Self.key, sessionSeconds: 5))
    }
}
