import Testing
@testable import MeterProtocols

/// Write address (0x15) and change rate (0x17) of DL/T 645-2007, as `meteragent commission`
/// sends them. Checksums computed by hand from the frame layout (sum from the first 68, +0x33 data).
@Suite struct DLT645CommissioningTests {
    static let meter = try! DLT645Address("121078563412")
    static func bytes(_ text: String) -> [UInt8] { Hex.parse(text)! }

    @Test func writeAddressGoesToTheWildcardWithTheNewAddress() throws {
        let frame = try DLT645Request.writeAddress(Self.meter)
        #expect(try frame.encoded(preamble: 0) == Self.bytes("68 AA AA AA AA AA AA 68 15 06 45 67 89 AB 43 45 4F 16"))
        #expect(throws: DLT645Error.self) { try DLT645Request.writeAddress(.wildcard) }
        #expect(throws: DLT645Error.self) { try DLT645Request.writeAddress(.broadcast) }
    }

    @Test func writeAddressRepliesFromTheNewAddressOrWithErrorBits() throws {
        let request = try DLT645Request.writeAddress(Self.meter)
        let ok = Self.bytes("68 12 34 56 78 10 12 68 95 00 9B 16")
        // Byte by byte, as a line delivers it.
        var decoder = DLT645StreamDecoder()
        var decoded: DLT645Frame?
        for b in ok { decoder.append(b); if let frame = decoder.nextFrame() { decoded = frame } }
        let reply = try #require(decoded)
        try DLT645Reply.writeAddress(reply, answering: request)
        let other = DLT645Frame(address: try DLT645Address("000000000001"), control: DLT645Control(rawValue: 0x95))
        #expect(throws: DLT645Error.self) { try DLT645Reply.writeAddress(other, answering: request) }
        let refused = try DLT645Frame.decode(Self.bytes("68 12 34 56 78 10 12 68 D5 01 37 13 16"))
        #expect(throws: DLT645Error.errorReply(control: 0xD5, error: .unauthorised)) { try DLT645Reply.writeAddress(refused, answering: request) }
    }

    @Test func featureByteHasOneBitPerRate() throws {
        #expect(try DLT645BaudFeature(baud: 600).rawValue == 0x02)
        #expect(try DLT645BaudFeature(baud: 1200).rawValue == 0x04)
        #expect(try DLT645BaudFeature(baud: 2400).rawValue == 0x08)
        #expect(try DLT645BaudFeature(baud: 4800).rawValue == 0x10)
        #expect(try DLT645BaudFeature(baud: 9600).rawValue == 0x20)
        #expect(try DLT645BaudFeature(baud: 19200).rawValue == 0x40)
        #expect(throws: DLT645Error.self) { try DLT645BaudFeature(baud: 38400) }
        #expect(throws: DLT645Error.self) { try DLT645BaudFeature(rawValue: 0x28) }
        #expect(throws: DLT645Error.self) { try DLT645BaudFeature(rawValue: 0x01) }
        #expect(try DLT645BaudFeature(rawValue: 0x10).baud == 4800)
    }

    @Test func changeBaudRequestAndReplies() throws {
        let request = try DLT645Request.changeBaud(DLT645BaudFeature(baud: 9600), of: Self.meter)
        #expect(try request.encoded(preamble: 0) == Self.bytes("68 12 34 56 78 10 12 68 17 01 53 71 16"))
        #expect(throws: DLT645Error.self) { try DLT645Request.changeBaud(DLT645BaudFeature(baud: 9600), of: .wildcard) }
        let ok = try DLT645Frame.decode(Self.bytes("FE FE 68 12 34 56 78 10 12 68 97 01 53 F1 16"))
        #expect(try DLT645Reply.changeBaud(ok, answering: request).baud == 9600)
        let refused = try DLT645Frame.decode(Self.bytes("68 12 34 56 78 10 12 68 D7 01 3B 19 16"))
        #expect(throws: DLT645Error.errorReply(control: 0xD7, error: .baudRateFixed)) { try DLT645Reply.changeBaud(refused, answering: request) }
        let otherRate = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x97), data: [0x08])
        #expect(throws: DLT645Error.self) { try DLT645Reply.changeBaud(otherRate, answering: request) }
    }
}
