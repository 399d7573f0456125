import Testing
import MeterProtocols

/// CRC and framing checked against frames captured between pymodbus and mbpoll (PROTOCOLS.md).
@Suite struct ModbusCRCTests {
    @Test func readHoldingRequestVector() {
        let body: [UInt8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]
        #expect(ModbusCRC.compute(body) == 0xCDC5)
        #expect(ModbusCRC.appending(to: body) == [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD])
    }

    static let captured: [[UInt8]] = [
        [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD],                                   // read 10 holding
        [0x01, 0x83, 0x02, 0xC0, 0xF1],                                                     // exception 02
        [0x01, 0x05, 0x00, 0x02, 0xFF, 0x00, 0x2D, 0xFA],                                   // write coil 2 on
        [0x01, 0x06, 0x00, 0x03, 0x03, 0x09, 0xB9, 0x3C],                                   // write register 3 = 777
        [0x01, 0x10, 0x00, 0x0A, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02, 0xA3, 0xD1],     // write multiple
        [0x01, 0x10, 0x00, 0x0A, 0x00, 0x02, 0x61, 0xCA],                                   // its reply
        [0x01, 0x2B, 0x0E, 0x01, 0x00, 0x70, 0x77],                                         // read device id
    ]

    @Test(arguments: captured)
    func capturedFrameIsValid(frame: [UInt8]) {
        #expect(ModbusCRC.isValid(frame))
        #expect(ModbusCRC.appending(to: Array(frame.dropLast(2))) == frame)
    }

    @Test(arguments: captured)
    func anyFlippedBitIsCaught(frame: [UInt8]) {
        for i in frame.indices {
            var bad = frame
            bad[i] ^= 0x10
            #expect(!ModbusCRC.isValid(bad), "byte \(i)")
        }
    }

    @Test func tooShortIsInvalid() {
        #expect(!ModbusCRC.isValid([0x01, 0x83]))
        #expect(!ModbusCRC.isValid([UInt8]()))
    }
}

@Suite struct SerialFramingTests {
    /// PROTOCOLS.md table: 1, 1.5 and 3.5 character times in milliseconds, rounded there to 0.01.
    static let table: [(SerialFraming, Double, Double, Double)] = [
        (SerialFraming(baud: 9600), 1.042, 1.56, 3.65),
        (SerialFraming(baud: 9600, parityBit: true), 1.146, 1.72, 4.01),
        (SerialFraming(baud: 19200), 0.521, 0.78, 1.82),
    ]

    @Test func characterTimesMatchTheTable() {
        for (framing, one, oneAndHalf, threeAndHalf) in Self.table {
            #expect(abs(framing.seconds(forBytes: 1) * 1000 - one) < 0.001, "\(framing.baud)")
            #expect(abs(framing.interCharacterTimeout * 1000 - oneAndHalf) < 0.005, "\(framing.baud)")
            #expect(abs(framing.interFrameSilence * 1000 - threeAndHalf) < 0.005, "\(framing.baud)")
        }
        #expect(SerialFraming(baud: 9600).bitsPerCharacter == 10)
        #expect(SerialFraming(baud: 9600, parityBit: true).bitsPerCharacter == 11)
        #expect(SerialFraming(baud: 9600, stopBits: 2).bitsPerCharacter == 11)
    }

    @Test func gapsAreFixedAbove19200Baud() {
        #expect(SerialFraming(baud: 38400).interFrameSilence == 0.00175)
        #expect(SerialFraming(baud: 115200).interCharacterTimeout == 0.00075)
        #expect(SerialFraming(baud: 19200).interFrameSilence > 0.00175)
    }
}

@Suite struct WireCostTests {
    func read(_ table: RegisterTable, _ count: Int) -> PlannedRead {
        PlannedRead(table: table, start: 0, count: count, members: [])
    }

    @Test func bytesOnTheWire() {
        #expect(ModbusWireCost.rtuBytes(read(.holding, 10)) == (8, 25))
        #expect(ModbusWireCost.tcpBytes(read(.holding, 10)) == (12, 29))
        #expect(ModbusWireCost.rtuBytes(read(.coil, 10)) == (8, 7))
        #expect(ModbusWireCost.dataBytes(read(.discrete, 2000)) == 250)
        #expect(ModbusWireCost.rtuBytes(read(.input, 125)).response == 255)
        #expect(ModbusWireCost.rtuBytes(read(.input, 125)).response <= ModbusLimits.maxRTUFrame)
    }

    @Test func transactionsPerSecondAt9600() {
        let framing = SerialFraming(baud: 9600)
        let ten = ModbusWireCost.rtuSeconds(read(.holding, 10), framing: framing)
        #expect(abs(ten * 1000 - 41.7) < 0.05)
        #expect(abs(1 / ten - 24.0) < 0.05)
        #expect(abs(1 / (ten + 0.005) - 21.4) < 0.05)
        let full = ModbusWireCost.rtuSeconds(read(.holding, 125), framing: framing)
        #expect(abs(125 / full - 444) < 1)
        #expect(abs(10 / ten - 240) < 1)
    }
}

@Suite struct ExactDecimalTests {
    @Test func parses() {
        #expect(ExactDecimal("12345.67") == ExactDecimal(significand: 1_234_567, exponent: -2))
        #expect(ExactDecimal("-0.005") == ExactDecimal(significand: -5, exponent: -3))
        #expect(ExactDecimal("1e-3") == ExactDecimal(significand: 1, exponent: -3))
        #expect(ExactDecimal("1.2E3") == ExactDecimal(significand: 12, exponent: 2))
        #expect(ExactDecimal("+100") == ExactDecimal(significand: 100, exponent: 0))
        #expect(ExactDecimal(".5") == ExactDecimal(significand: 5, exponent: -1))
        #expect(ExactDecimal("0.01") == ExactDecimal(significand: 1, exponent: -2))
        #expect(ExactDecimal("1e64") == ExactDecimal(significand: 1, exponent: 64))
        #expect(ExactDecimal("1e-64") == ExactDecimal(significand: 1, exponent: -64))
    }

    @Test(arguments: ["", "-", ".", "abc", "1.2.3", "--1", "1e", "1e1.5", "1_000", "0x10", "1,5", "99999999999999999999",
                         "1e999999999", "1e-65", "0.1e-9223372036854775808", "1e9223372036854775807"])
    func rejects(text: String) {
        #expect(ExactDecimal(text) == nil)
    }

    @Test func printsWithoutExponent() {
        #expect(ExactDecimal(significand: 1_234_567, exponent: -2).description == "12345.67")
        #expect(ExactDecimal(significand: -5, exponent: -3).description == "-0.005")
        #expect(ExactDecimal(significand: 12, exponent: 2).description == "1200")
        #expect(ExactDecimal(significand: 0, exponent: -2).description == "0.00")
        #expect(ExactDecimal(significand: 0, exponent: 3).description == "0")
        #expect(ExactDecimal(significand: 100, exponent: -2).description == "1.00")
        #expect(ExactDecimal(significand: Int64.min, exponent: 0).description == "-9223372036854775808")
    }

    @Test func parseThenPrintKeepsTheDigits() {
        for text in ["12345.67", "-0.005", "0.01", "1200", "-3", "0.10"] {
            #expect(ExactDecimal(text)?.description == text)
        }
    }

    @Test func multipliesExactly() {
        let raw = ExactDecimal(significand: 1_234_567, exponent: 0)
        #expect(raw.multiplied(by: ExactDecimal("0.01")!)?.description == "12345.67")
        #expect(ExactDecimal(significand: -200, exponent: 0).multiplied(by: ExactDecimal("0.1")!)?.description == "-20.0")
        #expect(ExactDecimal(significand: .max, exponent: 0).multiplied(by: ExactDecimal(significand: 2, exponent: 0)) == nil)
        #expect(ExactDecimal(significand: 1, exponent: .max).multiplied(by: ExactDecimal(significand: 1, exponent: 1)) == nil)
    }

    @Test func addsAcrossExponents() {
        #expect(ExactDecimal("1.5")!.adding(ExactDecimal("0.25")!)?.description == "1.75")
        #expect(ExactDecimal("100")!.adding(ExactDecimal("-0.5")!)?.description == "99.5")
        #expect(ExactDecimal(significand: .max, exponent: 0).adding(ExactDecimal("0.1")!) == nil)
    }

    @Test func doubleValue() {
        #expect(ExactDecimal("12345.67")!.doubleValue == 12345.67)
        #expect(ExactDecimal("1.2E3")!.doubleValue == 1200)
        #expect(ExactDecimal("-0.005")!.doubleValue == -0.005)
    }
}
