import Testing
@testable import MeterProtocols

/// Byte vectors from PROTOCOLS.md (captures of the PyPI dlt645 3.2.0 meter, the sample relay
/// command) and from python-dlt645's hard-coded read-address request: a second, independent source.
@Suite struct DLT645CodecTests {
    static let meter = try! DLT645Address("121078563412")
    static func bytes(_ text: String) -> [UInt8] { Hex.parse(text)! }

    @Test func addressWrittenVersusWireOrder() throws {
        #expect(Self.meter.wire == [0x12, 0x34, 0x56, 0x78, 0x10, 0x12])
        #expect(Self.meter.written == "121078563412")
        #expect(try DLT645Address(wire: [0x12, 0x34, 0x56, 0x78, 0x10, 0x12]) == Self.meter)
        #expect(throws: DLT645Error.self) { try DLT645Address("12107856341") }
        #expect(throws: DLT645Error.self) { try DLT645Address("12107856341X") }
        #expect(throws: DLT645Error.self) { try DLT645Address(wire: [0x1A, 0, 0, 0, 0, 0]) }
    }

    @Test func wildcardsAndBroadcast() throws {
        #expect(DLT645Address.wildcard.reaches(Self.meter))
        #expect(DLT645Address.broadcast.reaches(Self.meter) && DLT645Address.broadcast.isBroadcast)
        let partial = try DLT645Address("AAAA78563412")
        #expect(partial.wire == [0x12, 0x34, 0x56, 0x78, 0xAA, 0xAA])
        #expect(partial.reaches(Self.meter))
        #expect(!(try DLT645Address("AAAA78563413")).reaches(Self.meter))
        #expect(!(try DLT645Address("000000000001")).reaches(Self.meter))
        #expect(Self.meter.isUnicast && !partial.isUnicast)
    }

    @Test func readTotalEnergyRequestMatchesCapture() throws {
        let frame = DLT645Request.read(.totalActiveEnergy, from: Self.meter)
        #expect(try frame.encoded(preamble: 0) == Self.bytes("68 12 34 56 78 10 12 68 11 04 33 33 33 33 E7 16"))
        #expect(try frame.encoded() == Self.bytes("FE FE FE FE 68 12 34 56 78 10 12 68 11 04 33 33 33 33 E7 16"))
    }

    @Test func readReplyDecodesToExactBCD() throws {
        let wire = Self.bytes("FE FE 68 12 34 56 78 10 12 68 91 08 33 33 33 33 9A 78 56 34 07 16")
        let reply = try DLT645Frame.decode(wire)
        #expect(reply.control.isFromMeter && !reply.control.isError && reply.control.function == 0x11)
        let request = DLT645Request.read(.totalActiveEnergy, from: Self.meter)
        let read = try DLT645Reply.read(reply, answering: request)
        #expect(read.payload == [0x67, 0x45, 0x23, 0x01])
        let value = try DLT645ValueFormat.bcd(digits: 8, decimals: 2, signed: false).decode(read.payload)
        #expect(value.description == "12345.67")
        // Round trip: the simulator's reply is the captured one.
        let built = DLT645Reply.readReply(to: request, from: Self.meter, payload: read.payload)
        #expect(try built.encoded(preamble: 0) == Array(wire.dropFirst(2)))
    }

    @Test func unknownDataIdentifierErrorReply() throws {
        let wire = Self.bytes("68 12 34 56 78 10 12 68 D1 01 35 0D 16")
        let reply = try DLT645Frame.decode(wire)
        #expect(reply.control.isError && reply.data == [0x02])
        let request = DLT645Request.read(DLT645DataID(0x0400_FF99), from: Self.meter)
        #expect(throws: DLT645Error.errorReply(control: 0xD1, error: .noData)) {
            _ = try DLT645Reply.read(reply, answering: request)
        }
        #expect(DLT645ErrorBits.noData.description == "no such data")
        #expect(DLT645ErrorBits(rawValue: 0x06).description == "no such data, unauthorised (wrong password or level)")
        #expect(try DLT645Reply.errorReply(to: request, from: Self.meter, error: .noData).encoded(preamble: 0) == wire)
    }

    @Test func readAddressMatchesPythonDlt645() throws {
        // python-dlt645 0.1.4 get_addr() sends exactly these bytes.
        #expect(try DLT645Request.readAddress().encoded() == Self.bytes("FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16"))
        let reply = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x93), data: Self.meter.wire)
        #expect(try DLT645Reply.address(try DLT645Frame.decode(try reply.encoded())) == Self.meter)
    }

    @Test func relaySampleDataBytes() throws {
        // PROTOCOLS.md: `68 … 68 1C 10 36 33 33 33 45 33 33 33 4D 33 33 33 33 34 34 CC F9 16`
        // = PA 03, N1 1A, deadline 2099-01-01 (operator code 00000012).
        let command = try DLT645RelayCommand(passwordLevel: 0x03, password: "000000", operatorCode: "00000012",
                                             action: .trip, deadline: MeterDateTime(year: 2099, month: 1, day: 1))
        let frame = try DLT645Request.relayControl(command, to: Self.meter)
        let encoded = try frame.encoded(preamble: 0)
        #expect(Array(encoded[8...25]) == Self.bytes("1C 10 36 33 33 33 45 33 33 33 4D 33 33 33 33 34 34 CC"))
        #expect(encoded[26] == DLT645Frame.checksum(encoded[0..<26]) && encoded[27] == 0x16 && encoded.count == 28)
        let parsed = try DLT645RelayCommand(data: frame.data)
        #expect(parsed == command && parsed.writtenPassword == "000000")
        #expect(throws: DLT645Error.self) { _ = try DLT645Request.relayControl(command, to: .broadcast) }
        #expect(throws: DLT645Error.self) { _ = try DLT645Request.relayControl(command, to: .wildcard) }
    }

    @Test func passwordGoesLowByteFirst() throws {
        let command = try DLT645RelayCommand(passwordLevel: 0x02, password: "123456", operatorCode: "A1B2C3D4",
                                             action: .closeAllowed, deadline: MeterDateTime(year: 2030, month: 6, day: 15, hour: 8))
        #expect(Array(command.data[0...9]) == [0x02, 0x56, 0x34, 0x12, 0xD4, 0xC3, 0xB2, 0xA1, 0x1B, 0x00])
        #expect(Array(command.data[10...15]) == [0x00, 0x00, 0x08, 0x15, 0x06, 0x30])
    }

    @Test func relayReplies() throws {
        let command = try DLT645RelayCommand(passwordLevel: 2, password: "000000", operatorCode: "00000000",
                                             action: .trip, deadline: MeterDateTime(year: 2099, month: 1, day: 1))
        let request = try DLT645Request.relayControl(command, to: Self.meter)
        try DLT645Reply.relay(DLT645Reply.okReply(to: request, from: Self.meter), answering: request)
        let refused = DLT645Reply.errorReply(to: request, from: Self.meter, error: .unauthorised)
        #expect(refused.control.rawValue == 0xDC)
        #expect(throws: DLT645Error.errorReply(control: 0xDC, error: .unauthorised)) {
            try DLT645Reply.relay(refused, answering: request)
        }
        // Some meters answer with a 2-byte status word: accepted.
        try DLT645Reply.relay(DLT645Reply.okReply(to: request, from: Self.meter, data: [0x00, 0x00]), answering: request)
    }

    @Test func broadcastTimeFrame() throws {
        let time = MeterDateTime(year: 2026, month: 11, day: 25, hour: 17, minute: 5, second: 1)
        let frame = DLT645Request.broadcastTime(time)
        let encoded = try frame.encoded(preamble: 0)
        let data: [UInt8] = [0x01, 0x05, 0x17, 0x25, 0x11, 0x26].map { $0 &+ 0x33 }
        #expect(Array(encoded[0...9]) == [0x68, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x68, 0x08, 0x06])
        #expect(Array(encoded[10...15]) == data)
        #expect(try MeterDateTime(wireSecondsFirst: frame.data) == time)
    }

    @Test func controlByteFields() {
        let c = DLT645Control(rawValue: 0xB1)
        #expect(c.isFromMeter && !c.isError && c.hasFollowUp && c.function == 0x11)
        #expect(DLT645Control.read.reply(followUp: true) == c)
        #expect(DLT645Control.read.errorReply.rawValue == 0xD1)
        #expect(DLT645Control.relayControl.reply().rawValue == 0x9C)
        #expect(DLT645Control.read1997.reply().rawValue == 0x81)
    }

    @Test func followUpRead() throws {
        let di = DLT645DataID(0x0601_0000)
        let request = DLT645Request.readFollowUp(di, sequence: 1, from: Self.meter)
        #expect(request.control.rawValue == 0x12 && request.data == [0x00, 0x00, 0x01, 0x06, 0x01])
        let reply = DLT645Reply.readReply(to: request, from: Self.meter, payload: [0x11, 0x22], followUp: true, sequence: 1)
        #expect(reply.control.rawValue == 0xB2)
        let read = try DLT645Reply.read(try DLT645Frame.decode(try reply.encoded()), answering: request)
        #expect(read.payload == [0x11, 0x22] && read.hasFollowUp && read.di == di)
    }

    @Test func read1997UsesTwoByteIdentifiers() throws {
        let request = DLT645Request.read1997(.v1997(0x9010), from: Self.meter)
        #expect(request.control.rawValue == 0x01 && request.data == [0x10, 0x90])
        let encoded = try request.encoded(preamble: 0)
        #expect(Array(encoded[8...11]) == [0x01, 0x02, 0x43, 0xC3])
        let reply = DLT645Reply.readReply(to: request, from: Self.meter, payload: [0x67, 0x45, 0x23, 0x01])
        #expect(reply.control.rawValue == 0x81)
        let read = try DLT645Reply.read(try DLT645Frame.decode(try reply.encoded()), answering: request)
        #expect(read.di.description == "9010" && read.payload == [0x67, 0x45, 0x23, 0x01])
    }

    @Test func replyFromAnotherMeterOrForAnotherDIIsRejected() throws {
        let request = DLT645Request.read(.totalActiveEnergy, from: Self.meter)
        let other = try DLT645Address("000000000001")
        #expect(throws: DLT645Error.self) {
            _ = try DLT645Reply.read(DLT645Reply.readReply(to: request, from: other, payload: [0, 0, 0, 0]), answering: request)
        }
        let wrongDI = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x91), data: [0, 0, 1, 0, 0, 0, 0, 0])
        #expect(throws: DLT645Error.self) { _ = try DLT645Reply.read(wrongDI, answering: request) }
    }

    @Test func framesWithFEAnd16InData() throws {
        // Data bytes that go on the wire as FE and 16 (0xCB + 0x33 = FE, 0xE3 + 0x33 = 16).
        let frame = DLT645Frame(address: Self.meter, control: DLT645Control(rawValue: 0x91), data: [0, 0, 0, 0, 0xCB, 0xE3, 0xCB, 0xE3])
        let encoded = try frame.encoded(preamble: 2)
        #expect(encoded.contains(0x16) && encoded.dropFirst(2).contains(0xFE))
        #expect(try DLT645Frame.decode(encoded) == frame)
    }

    @Test func corruptFramesAreRejected() throws {
        var wire = Self.bytes("68 12 34 56 78 10 12 68 11 04 33 33 33 33 E7 16")
        wire[14] = 0xE8
        #expect(throws: DLT645Error.badChecksum(expected: 0xE7, found: 0xE8)) { _ = try DLT645Frame.decode(wire) }
        wire[14] = 0xE7
        wire[15] = 0x17
        #expect(throws: DLT645Error.missingEnd(found: 0x17)) { _ = try DLT645Frame.decode(wire) }
        #expect(throws: DLT645Error.self) { _ = try DLT645Frame.decode(wire.prefix(12)) }
        #expect(throws: DLT645Error.self) { _ = try DLT645Frame(address: Self.meter, control: .read, data: Array(repeating: 0, count: 256)).encoded() }
    }

    @Test func bcdFormatsWithDecimalsAndSign() throws {
        let voltage = DLT645ValueFormat.bcd(digits: 4, decimals: 1, signed: false)
        #expect(try voltage.decode([0x12, 0x23]).description == "231.2")
        let current = DLT645ValueFormat.bcd(digits: 6, decimals: 3, signed: true)
        #expect(try current.decode([0x56, 0x34, 0x12]).description == "123.456")
        #expect(try current.decode([0x56, 0x34, 0x92]).description == "-123.456")
        #expect(try current.encode(ExactDecimal("-123.456")!) == [0x56, 0x34, 0x92])
        let power = DLT645ValueFormat.bcd(digits: 6, decimals: 4, signed: true)
        #expect(try power.encode(ExactDecimal("1.23456")!) == [0x46, 0x23, 0x01])
        #expect(try power.decode([0x46, 0x23, 0x01]).description == "1.2346")
        #expect(try power.decode([0x46, 0x23, 0x81]).description == "-1.2346")
        #expect(throws: DLT645Error.badBCD(0x1A)) { _ = try voltage.decode([0x1A, 0x00]) }
        #expect(throws: DLT645Error.self) { _ = try voltage.encode(ExactDecimal("1000")!) }
        #expect(throws: DLT645Error.self) { _ = try voltage.encode(ExactDecimal("-1")!) }
        let status = DLT645ValueFormat.binary(bytes: 2)
        #expect(try status.decode([0x50, 0x10]).significand == 0x1050)
    }

    @Test func clockFields() throws {
        let t = MeterDateTime(year: 2026, month: 11, day: 25, hour: 17, minute: 5, second: 1)
        #expect(t.weekday == 3) // a Wednesday
        #expect(t.wireDate == [0x03, 0x25, 0x11, 0x26] && t.wireTime == [0x01, 0x05, 0x17])
        #expect(try DLT645ValueFormat.clock(.date).decode(t.wireDate).significand == 26_112_503)
        #expect(try DLT645ValueFormat.clock(.time).decode(t.wireTime).significand == 170_501)
        #expect(MeterDateTime(secondsSince1970: t.secondsSince1970) == t)
        #expect(MeterDateTime(secondsSince1970: 0) == MeterDateTime(year: 1970, month: 1, day: 1))
        #expect(MeterDateTime(secondsSince1970: 951_782_400).description == "2000-02-29 00:00:00")
        #expect(!MeterDateTime(year: 2026, month: 2, day: 29).isValid(years: MeterDateTime.dlt645Years))
    }

    @Test func statusWord3Bits() throws {
        var word = try DLT645StatusWord3(payload: [0x50, 0x10])
        #expect(word.relayOpen && word.relayCommandOff && !word.preTripAlarm && word.keepPower && word.prepaymentType == 0)
        word.relayOpen = false
        word.relayCommandOff = false
        #expect(word.payload == [0x00, 0x10])
        #expect(try DLT645StatusWord3(payload: [0x80, 0x01]).prepaymentType == 1)
    }
}
