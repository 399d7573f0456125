import Testing
@testable import MeterProtocols

/// Byte vectors for CJ/T 188-2004. Checksums are worked out by hand in the comments (sum of the
/// bytes from 68 to the end of DATA, modulo 256), so a wrong checksum routine cannot agree with
/// itself.
@Suite struct CJT188CodecTests {
    static func bytes(_ text: String) -> [UInt8] {
        text.split(separator: " ").map { UInt8($0, radix: 16)! }
    }

    // MARK: - Published / captured frames

    /// Read current data of cold-water meter 00000000000012, DI high first, SER 00, as in the
    /// self-test of an open CJ/T 188 tool (python_cjt188, tested against a DN15 meter).
    /// 68+10+12+01+03+90+1F+00 = 0x78+0x12 = 0x8A, +01+03 = 0x8E, +90 = 0x11E, +1F = 0x13D → CS 3D.
    static let readWater = "68 10 12 00 00 00 00 00 00 01 03 90 1F 00 3D 16"

    /// That tool's captured reply: totals 1000.10 m³ (`10 00 10 00` lowest byte first, XXXXXX.XX),
    /// no clock (zeros), ST 00 FF.
    /// 68+10+12 = 0x8A; +81+16 = 0x121; +90+1F+00 = 0x1D0; +10+00+10+00+2C = 0x21C;
    /// +10+00+10+00+2C = 0x268; clock zeros; +00+FF = 0x367 → CS 67.
    static let waterReply = "FE FE FE 68 10 12 00 00 00 00 00 00 81 16 90 1F 00 10 00 10 00 2C 10 00 10 00 2C 00 00 00 00 00 00 00 00 FF 67 16"

    /// Read address with wildcard type and address (from the same tool):
    /// 68 + AA×8 (= 0x550) = 0x5B8; +03+03 = 0x5BE; +81 = 0x63F; +0A+00 = 0x649 → CS 49.
    static let readAddress = "68 AA AA AA AA AA AA AA AA 03 03 81 0A 00 49 16"

    @Test func encodesTheCapturedReadRequestByteForByte() {
        let frame = CJT188Request.readCurrentData(meterType: .coldWater, address: CJT188Address(written: "00000000000012")!,
                                                  order: .highFirst, serial: 0)
        #expect(frame.encoded() == Self.bytes(Self.readWater))
        #expect(frame.encoded(preamble: 3) == [0xFE, 0xFE, 0xFE] + Self.bytes(Self.readWater))
    }

    @Test func lowFirstDIOrderSwapsOnlyTheTwoDIBytes() {
        // Same bytes, same sum → same CS 3D.
        let frame = CJT188Request.readCurrentData(meterType: .coldWater, address: CJT188Address(written: "00000000000012")!,
                                                  order: .lowFirst, serial: 0)
        #expect(frame.encoded() == Self.bytes("68 10 12 00 00 00 00 00 00 01 03 1F 90 00 3D 16"))
    }

    @Test func encodesReadAddressToTheWildcard() {
        #expect(CJT188Request.readAddress(order: .highFirst, serial: 0).encoded() == Self.bytes(Self.readAddress))
    }

    @Test func decodesTheCapturedReplyWithPreamble() throws {
        let frame = try CJT188Frame.decode(Self.bytes(Self.waterReply))
        #expect(frame.meterType == .coldWater)
        #expect(frame.address.written == "00000000000012")
        #expect(frame.control == CJT188Control(rawValue: 0x81))
        #expect(frame.control.isReply && !frame.control.isError)
        #expect(frame.data.count == 0x16)
        let request = try CJT188Frame.decode(Self.bytes(Self.readWater))
        let payload = try CJT188Reply.payload(of: frame, answering: request, dataID: .currentData)
        let data = try CJT188CurrentData.decode(payload)
        #expect(data.currentTotal.description == "1000.10")
        #expect(data.settlementTotal.description == "1000.10")
        #expect(data.currentUnit == .cubicMetre && data.currentUnit.symbol == "m³")
        #expect(data.clock == nil)
        #expect(data.status == CJT188Status(low: 0x00, high: 0xFF))
        #expect(data.status.valve == .open && !data.status.batteryLow)
    }

    // MARK: - Vectors built for this codec

    /// Gas meter written 00000012345678 → wire 78 56 34 12 00 00 00.
    /// Reply 81, L 16, DI low first `1F 90`, SER 2A, current `78 56 34 12` = 123456.78 m³,
    /// settlement `00 00 34 12` = 123400.00 m³, clock `20 30 14 25 11 24 20` = 2024-11-25 14:30:20
    /// (seconds first, century last), ST `05 00` = valve closed (D0–D1 = 01) + battery low (D2).
    /// Sum: 68+30 = 0x98; +78+56+34+12 = 0x1B4; +81+16 = 0x24B; +1F+90+2A = 0x304;
    /// +78+56+34+12+2C = 0x44C; +34+12+2C = 0x4B6; +20+30+14+25+11+24+20 = 0x5AC; +05 = 0x5B1 → CS B1.
    static let gasReply = "68 30 78 56 34 12 00 00 00 81 16 1F 90 2A 78 56 34 12 2C 00 00 34 12 2C 20 30 14 25 11 24 20 05 00 B1 16"

    @Test func decodesGasReplyWithClockStatusAndLowFirstDI() throws {
        let address = try #require(CJT188Address(written: "00000012345678"))
        #expect(address.wire == [0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00])
        // The request was sent high first; the meter answers low first: still accepted.
        let request = CJT188Request.readCurrentData(meterType: .gas, address: address, order: .highFirst, serial: 0x2A)
        let reply = try CJT188Frame.decode(Self.bytes(Self.gasReply))
        let data = try CJT188CurrentData.decode(try CJT188Reply.payload(of: reply, answering: request, dataID: .currentData))
        #expect(data.currentTotal.description == "123456.78")
        #expect(data.settlementTotal.description == "123400.00")
        #expect(data.clock == MeterDateTime(year: 2024, month: 11, day: 25, hour: 14, minute: 30, second: 20))
        #expect(data.clock?.compactValue == 20241125143020)
        #expect(data.status.valve == .closed)
        #expect(data.status.batteryLow)
        #expect(!data.status.valveFault)
    }

    @Test func gasReplyRoundTripsThroughTheEncoder() throws {
        let address = try #require(CJT188Address(written: "00000012345678"))
        let request = CJT188Request.readCurrentData(meterType: .gas, address: address, order: .lowFirst, serial: 0x2A)
        let data = CJT188CurrentData(currentTotal: ExactDecimal("123456.78")!, currentUnit: .cubicMetre,
                                     settlementTotal: ExactDecimal("123400")!, settlementUnit: .cubicMetre,
                                     clock: MeterDateTime(year: 2024, month: 11, day: 25, hour: 14, minute: 30, second: 20),
                                     status: CJT188Status(valve: .closed, batteryLow: true))
        let reply = CJT188Reply.make(answering: request, meterType: .gas, address: address, payload: try #require(data.encoded()))
        #expect(reply.encoded() == Self.bytes(Self.gasReply))
    }

    /// Valve close to cold-water meter 00000000001234: C 04, L 04, DI A0 17, SER 01, 99.
    /// 68+10 = 0x78; +34+12 = 0xBE; +04+04 = 0xC6; +A0+17 = 0x17D; +01 = 0x17E; +99 = 0x217 → CS 17.
    static let valveClose = "68 10 34 12 00 00 00 00 00 04 04 A0 17 01 99 17 16"
    /// Its reply: C 84, L 05, DI A0 17, SER 01, ST 01 00 (closed).
    /// 0x78; +34+12 = 0xBE; +84+05 = 0x147; +A0+17 = 0x1FE; +01 = 0x1FF; +01+00 = 0x200 → CS 00.
    static let valveReply = "68 10 34 12 00 00 00 00 00 84 05 A0 17 01 01 00 00 16"
    /// An error reply: C C4, L 03, SER 01, ST 03 00 (valve abnormal).
    /// 0xBE; +C4+03 = 0x185; +01 = 0x186; +03 = 0x189 → CS 89.
    static let valveError = "68 10 34 12 00 00 00 00 00 C4 03 01 03 00 89 16"

    @Test func valveCloseAndItsReplies() throws {
        let address = try #require(CJT188Address(written: "00000000001234"))
        let request = CJT188Request.valve(.close, meterType: .coldWater, address: address, order: .highFirst, serial: 1)
        #expect(request.encoded() == Self.bytes(Self.valveClose))
        let reply = try CJT188Frame.decode(Self.bytes(Self.valveReply))
        let payload = try CJT188Reply.payload(of: reply, answering: request, dataID: .valveControl)
        #expect(Array(payload) == [0x01, 0x00])
        #expect(CJT188Status(low: payload.first!, high: payload.last!).valve == .closed)

        let error = try CJT188Frame.decode(Self.bytes(Self.valveError))
        #expect(error.control.isError)
        #expect(throws: CJT188Error.errorReply(control: 0xC4, status: CJT188Status(low: 0x03, high: 0x00))) {
            _ = try CJT188Reply.payload(of: error, answering: request, dataID: .valveControl)
        }
        #expect(CJT188Reply.makeError(answering: request, meterType: .coldWater, address: address,
                                      status: CJT188Status(valve: .abnormal, batteryLow: false)).encoded() == Self.bytes(Self.valveError))
    }

    /// Read address reply from meter 00000000001234: C 83, L 03, DI 81 0A, SER 07.
    /// 0x78; +34+12 = 0xBE; +83+03 = 0x144; +81+0A = 0x1CF; +07 = 0x1D6 → CS D6.
    @Test func readAddressReplyNamesTheMeter() throws {
        let request = CJT188Request.readAddress(order: .highFirst, serial: 7)
        let reply = try CJT188Frame.decode(Self.bytes("68 10 34 12 00 00 00 00 00 83 03 81 0A 07 D6 16"))
        _ = try CJT188Reply.payload(of: reply, answering: request, dataID: .readAddress)
        #expect(reply.address.written == "00000000001234")
        #expect(reply.meterType == .coldWater)
    }

    // MARK: - Rejections

    @Test func rejectsBadChecksumEndAndTruncation() {
        var bad = Self.bytes(Self.valveReply)
        bad[bad.count - 2] = 0x01
        #expect(throws: CJT188Error.badChecksum(computed: 0x00, received: 0x01)) { try CJT188Frame.decode(bad) }
        var noEnd = Self.bytes(Self.valveReply)
        noEnd[noEnd.count - 1] = 0x17
        #expect(throws: CJT188Error.badEnd(0x17)) { try CJT188Frame.decode(noEnd) }
        let short = Array(Self.bytes(Self.valveReply).dropLast(3))
        #expect(throws: CJT188Error.truncated(need: 18, have: 15)) { try CJT188Frame.decode(short) }
        #expect(throws: CJT188Error.badStart(0x69)) { try CJT188Frame.decode([0x69] + Array(repeating: 0, count: 12)) }
    }

    @Test func rejectsRepliesThatAnswerSomethingElse() throws {
        let address = try #require(CJT188Address(written: "00000000001234"))
        let other = try #require(CJT188Address(written: "00000000001235"))
        let request = CJT188Request.valve(.close, meterType: .coldWater, address: address, order: .highFirst, serial: 1)
        let good = CJT188Reply.make(answering: request, meterType: .coldWater, address: address, payload: [1, 0])
        #expect(throws: Never.self) { _ = try CJT188Reply.payload(of: good, answering: request, dataID: .valveControl) }
        var wrongAddress = good
        wrongAddress.address = other
        #expect(throws: CJT188Error.addressMismatch(expected: "00000000001234", received: "00000000001235")) {
            _ = try CJT188Reply.payload(of: wrongAddress, answering: request, dataID: .valveControl)
        }
        var wrongSerial = good
        wrongSerial.data[2] = 9
        #expect(throws: CJT188Error.serialMismatch(expected: 1, received: 9)) {
            _ = try CJT188Reply.payload(of: wrongSerial, answering: request, dataID: .valveControl)
        }
        var wrongDI = good
        wrongDI.data[0] = 0x90
        wrongDI.data[1] = 0x1F
        #expect(throws: CJT188Error.unexpectedDataID(expected: 0xA017, received: 0x901F)) {
            _ = try CJT188Reply.payload(of: wrongDI, answering: request, dataID: .valveControl)
        }
        var wrongType = good
        wrongType.meterType = .gas
        #expect(throws: CJT188Error.meterTypeMismatch(expected: 0x10, received: 0x30)) {
            _ = try CJT188Reply.payload(of: wrongType, answering: request, dataID: .valveControl)
        }
        // The request itself echoed back (a line with local echo) is not a reply.
        #expect(throws: CJT188Error.unexpectedControl(expected: 0x84, received: 0x04)) {
            _ = try CJT188Reply.payload(of: request, answering: request, dataID: .valveControl)
        }
    }

    // MARK: - Values

    @Test func addressesRoundTripAndWildcardsReach() throws {
        let address = try #require(CJT188Address(written: "20240000012345"))
        #expect(address.wire == [0x45, 0x23, 0x01, 0x00, 0x00, 0x24, 0x20])
        #expect(address.written == "20240000012345")
        #expect(CJT188Address(wire: address.wire) == address)
        #expect(CJT188Address(written: "2024000001234") == nil)   // 13 digits
        #expect(CJT188Address(written: "2024000001234X") == nil)
        #expect(CJT188Address(wire: [0x4A, 0, 0, 0, 0, 0, 0]) == nil) // not BCD
        let pattern = try #require(CJT188Address(written: "AAAAAAAAAA2345"))
        #expect(pattern.hasWildcard)
        #expect(pattern.reaches(address))
        #expect(!pattern.reaches(CJT188Address(written: "20240000012346")!))
        #expect(CJT188Address.wildcard.reaches(address))
        #expect(CJT188Address.wildcard.written == "AAAAAAAAAAAAAA")
    }

    @Test func statusBitsCountFromD0() {
        #expect(CJT188Status(low: 0b000, high: 0).valve == .open)
        #expect(CJT188Status(low: 0b001, high: 0).valve == .closed)
        #expect(CJT188Status(low: 0b011, high: 0).valve == .abnormal)
        #expect(CJT188Status(low: 0b011, high: 0).valveFault)
        #expect(CJT188Status(low: 0b100, high: 0).batteryLow)
        #expect(!CJT188Status(low: 0b011, high: 0xFF).batteryLow)
        #expect(CJT188Status(valve: .abnormal, batteryLow: true).low == 0x07)
    }

    @Test func clockReadsEitherLayout() {
        let secondsFirst: [UInt8] = [0x20, 0x30, 0x14, 0x25, 0x11, 0x24, 0x20]
        let yearFirst: [UInt8] = [0x20, 0x24, 0x11, 0x25, 0x14, 0x30, 0x20]
        let expected = MeterDateTime(year: 2024, month: 11, day: 25, hour: 14, minute: 30, second: 20)
        #expect(MeterDateTime.cjt188(secondsFirst[...]) == expected)
        // Seconds-first would give month 14: not a date, so the year-first reading wins.
        #expect(MeterDateTime.cjt188(yearFirst[...]) == expected)
        #expect(MeterDateTime.cjt188(yearFirst[...], preferring: .yearFirst) == expected)
        #expect(expected.cjt188Bytes(layout: .yearFirst) == yearFirst)
        #expect(MeterDateTime.cjt188([0, 0, 0, 0, 0, 0, 0][...]) == nil)
        #expect(MeterDateTime.cjt188([0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99][...]) == nil)
        #expect(expected.description == "2024-11-25 14:30:20")
    }

    @Test func unitCodesMatchTheTable() {
        let expected: [(UInt8, String)] = [(0x02, "Wh"), (0x05, "kWh"), (0x08, "MWh"), (0x0A, "MWh×100"), (0x01, "J"),
                                           (0x0B, "kJ"), (0x0E, "MJ"), (0x11, "GJ"), (0x13, "GJ×100"), (0x14, "W"),
                                           (0x17, "kW"), (0x1A, "MW"), (0x29, "L"), (0x2C, "m³"), (0x32, "L/h"), (0x35, "m³/h")]
        for (code, symbol) in expected {
            #expect(CJT188UnitCode(rawValue: code).symbol == symbol)
            #expect(CJT188UnitCode(symbol: symbol)?.rawValue == code)
        }
        #expect(CJT188UnitCode(symbol: "m3") == .cubicMetre)
        #expect(CJT188UnitCode(rawValue: 0x2D).symbol == nil)
    }

    @Test func totalsAreExactAndBounded() throws {
        #expect(CJT188CurrentData.hundredths(ExactDecimal("1.005")!) == 100)   // cut, as a register would
        #expect(CJT188CurrentData.hundredths(ExactDecimal("1200")!) == 120_000)
        #expect(CJT188CurrentData.hundredths(ExactDecimal("-1")!) == nil)
        let tooBig = CJT188CurrentData(currentTotal: ExactDecimal("1000000")!, currentUnit: .cubicMetre,
                                       settlementTotal: .zero, settlementUnit: .cubicMetre, clock: nil,
                                       status: CJT188Status(low: 0, high: 0))
        #expect(tooBig.encoded() == nil)
        var badBCD = Array(repeating: UInt8(0), count: 19)
        badBCD[0] = 0x1A
        #expect(throws: CJT188Error.badBCD(field: "current total")) { _ = try CJT188CurrentData.decode(badBCD[...]) }
        #expect(throws: CJT188Error.truncated(need: 19, have: 18)) { _ = try CJT188CurrentData.decode(badBCD.dropLast()) }
    }

    @Test func meterTypesByName() {
        #expect(CJT188MeterType(name: "cold_water") == .coldWater)
        #expect(CJT188MeterType(name: "gas") == .gas)
        #expect(CJT188MeterType(name: "0x11") == .hotWater)
        #expect(CJT188MeterType(name: "steam") == nil)
        #expect(CJT188DIOrder(rawValue: "low_first")?.other == .highFirst)
    }
}
