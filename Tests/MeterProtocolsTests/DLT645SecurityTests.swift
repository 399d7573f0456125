import Testing
@testable import MeterProtocols

/// Forwarded ESAM frames: the blocks the agent takes, how it frames them and which replies it
/// accepts. The frame bytes were computed by a few lines of Python from the standard's rules
/// (+0x33, sum from the first 68), not with our codec; the blocks are `esam_headend.py`'s.
@Suite struct DLT645SecurityTests {
    static let meter = try! DLT645Address("202611250303")
    static func bytes(_ text: String) -> [UInt8] { Hex.parse(text)! }

    /// Identity authentication (DI 070000FF, operator 00000000, R1 0102030405060708) and the trip
    /// encrypted for its session, both for key 00112233445566778899AABBCCDDEEFF.
    static let authentication = bytes("FF000007 00000000 3608D11CF632AC6F 0102030405060708 0000030325112620")
    static let encryptedTrip = bytes("96 000000 00000000 2479C3C163FA78BC71AC384B60E023BD BB354CF7")

    @Test func framesAnAuthenticationWithTheMetersAddress() throws {
        let frame = try DLT645Security.request(control: 0x03, data: Self.authentication, to: Self.meter)
        #expect(try frame.encoded() == Self.bytes("FE FE FE FE 68 03 03 25 11 26 20 68 03 20 32 33 33 3A 33 33 33 33 69 3B 04 4F 29 65 DF A2"
                                                   + " 34 35 36 37 38 39 3A 3B 33 33 36 36 58 44 59 53 EF 16"))
    }

    @Test func framesAnEncryptedRelayControlOfLength1C() throws {
        let frame = try DLT645Security.request(control: 0x1C, data: Self.encryptedTrip, to: Self.meter)
        // Its data holds 68 and 16: the length byte, not a search for 16, ends the frame.
        let wire = Self.bytes("68 03 03 25 11 26 20 68 1C 1C C9 33 33 33 33 33 33 33 57 AC F6 F4 96 2D AB EF A4 DF 6B 7E 93 13 56 F0 EE 68 7F 2A 59 16")
        #expect(try frame.encoded(preamble: 0) == wire)
        #expect(try DLT645Frame.decode(wire) == frame)
    }

    @Test func refusesBlocksItDoesNotForward() throws {
        #expect(DLT645Security.problem(control: 0x03, data: Self.authentication) == nil)
        #expect(DLT645Security.problem(control: 0x1C, data: Self.encryptedTrip) == nil)
        // A plaintext trip (PA 02, 16 bytes) goes through relay.open and the profile's checks.
        let plaintext = Self.bytes("02 000000 01000000 1A 00 00 00 00 01 01 99")
        #expect(DLT645Security.problem(control: 0x1C, data: plaintext)?.contains("28 bytes") == true)
        #expect(DLT645Security.problem(control: 0x1C, data: [0x02] + Array(Self.encryptedTrip.dropFirst()))?.contains("98 or 96") == true)
        #expect(DLT645Security.problem(control: 0x03, data: [0xFF, 0x00])?.contains("4-byte data identifier") == true)
        #expect(DLT645Security.problem(control: 0x03, data: Self.bytes("00 00 01 00"))?.contains("not 00010000") == true)
        #expect(DLT645Security.problem(control: 0x03, data: Self.bytes("FF000007") + [UInt8](repeating: 0, count: 197))?.contains("200") == true)
        #expect(DLT645Security.problem(control: 0x14, data: Self.authentication)?.contains("0x14 is not forwarded") == true)
        #expect(DLT645Security.problem(control: 0x83, data: Self.authentication) != nil)
        #expect(throws: DLT645Error.self) { try DLT645Security.request(control: 0x14, data: [], to: Self.meter) }
        #expect(throws: DLT645Error.self) { try DLT645Security.request(control: 0x03, data: Self.authentication, to: .wildcard) }
    }

    func reply(_ wire: String, to control: UInt8 = 0x03) throws -> DLT645SecurityReply {
        let request = try DLT645Security.request(control: control, data: control == 0x03 ? Self.authentication : Self.encryptedTrip, to: Self.meter)
        return try DLT645Security.reply(try DLT645Frame.decode(Self.bytes(wire)), answering: request)
    }

    @Test func readsTheRepliesMetersSend() throws {
        // 83: DI echoed, random 2, ESAM serial.
        let accepted = try reply("68 03 03 25 11 26 20 68 83 10 32 33 33 3A 4D 5E 6F 80 33 44 55 66 77 88 99 AA C5 16")
        #expect(!accepted.refused && accepted.error == nil)
        #expect(accepted.data == Self.bytes("FF000007 1A2B3C4D 0011223344556677"))
        #expect(accepted.description == "identity authentication accepted (random 2 1A2B3C4D, ESAM serial 0011223344556677)")
        // C3 with SERR bit 3.
        let failed = try reply("68 03 03 25 11 26 20 68 C3 02 3B 33 85 16")
        #expect(failed.refused)
        #expect(failed.error == "SERR 0008: identity authentication failed")
        // 9C with no data; DC with an error word (MAC) or the classic byte (unauthorised).
        #expect(try reply("68 03 03 25 11 26 20 68 9C 00 EE 16", to: 0x1C).description == "relay control accepted")
        let mac = try reply("68 03 03 25 11 26 20 68 DC 02 35 33 98 16", to: 0x1C)
        #expect(mac.error == "error word 0002: MAC check failed")
        #expect(mac.description == "relay control refused: error word 0002: MAC check failed")
        let reply04 = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0xDC), data: [0x04])
        let request = try DLT645Security.request(control: 0x1C, data: Self.encryptedTrip, to: Self.meter)
        #expect(try DLT645Security.reply(reply04, answering: request).error == "error byte 04: unauthorised (wrong password or level)")
        let status = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x9C), data: [0x01, 0x00])
        #expect(try DLT645Security.reply(status, answering: request).description == "relay control accepted (status 01 00)")
        #expect(DLT645RelayErrorWord(rawValue: 0x0108).description == "identity authentication timed out or missing, unknown bits 0100")
    }

    @Test func refusesRepliesOfAnotherShape() throws {
        let auth = try DLT645Security.request(control: 0x03, data: Self.authentication, to: Self.meter)
        let relay = try DLT645Security.request(control: 0x1C, data: Self.encryptedTrip, to: Self.meter)
        func check(_ control: UInt8, _ data: [UInt8], answering request: DLT645Frame, from address: DLT645Address = Self.meter) throws {
            _ = try DLT645Security.reply(DLT645Frame(address: address, control: DLT645Control(rawValue: control), data: data), answering: request)
        }
        let echo = Self.bytes("FF000007")
        #expect(throws: DLT645Error.self) { try check(0x83, echo + [1, 2, 3, 4], answering: auth) }            // too short for 070000FF
        #expect(throws: DLT645Error.self) { try check(0x83, Self.bytes("00010000") + [UInt8](repeating: 0, count: 12), answering: auth) }
        #expect(throws: DLT645Error.self) { try check(0xC3, [], answering: auth) }
        #expect(throws: DLT645Error.self) { try check(0xC3, [8, 0, 0], answering: auth) }
        #expect(throws: DLT645Error.self) { try check(0x9C, [0, 0, 0], answering: relay) }
        #expect(throws: DLT645Error.self) { try check(0xDC, [], answering: relay) }
        #expect(throws: DLT645Error.self) { try check(0x1C, [], answering: relay) }                        // a master's frame
        #expect(throws: DLT645Error.self) { try check(0x91, [], answering: relay) }                        // another function
        #expect(throws: DLT645Error.self) { try check(0x9C, [], answering: relay, from: try DLT645Address("202611250304")) }
    }

    @Test func repliesComeOutOfAStreamByteByByteAllAtOnceAndTwoInOneBuffer() throws {
        let first = Self.bytes("FE FE 68 03 03 25 11 26 20 68 83 10 32 33 33 3A 4D 5E 6F 80 33 44 55 66 77 88 99 AA C5 16")
        let second = Self.bytes("68 03 03 25 11 26 20 68 DC 02 35 33 98 16")
        var oneByOne = DLT645StreamDecoder(), allAtOnce = DLT645StreamDecoder()
        var frames: [DLT645Frame] = []
        for byte in first + second {
            oneByOne.append(byte)
            while let frame = oneByOne.nextFrame() { frames.append(frame) }
        }
        allAtOnce.append(first + second)
        #expect(frames.map(\.control.rawValue) == [0x83, 0xDC])
        #expect(allAtOnce.nextFrame() == frames[0])
        #expect(allAtOnce.nextFrame() == frames[1])
        #expect(allAtOnce.nextFrame() == nil)
    }
}
