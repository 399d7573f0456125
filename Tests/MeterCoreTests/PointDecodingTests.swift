import MeterProtocols
import Testing
@testable import MeterCore

@Suite struct PointDecodingTests {
    func point(_ type: ValueType, table: RegisterTable = .holding, order: WordOrder = .ABCD,
               scale: String = "1", offset: String = "0") -> PointDefinition {
        PointDefinition(name: PointName("p"), table: table, address: 0, type: type, wordOrder: order,
                        scale: ExactDecimal(scale)!, offset: ExactDecimal(offset)!, unit: "kWh", billing: true)
    }

    @Test func scaleOneHundredthKeepsTheMetersDigits() {
        // 1234567 × 0.01 must read 12345.67, not 12345.670000000002.
        let (value, quality) = point(.u32, scale: "0.01").decode([0x0012, 0xD687] as [UInt16])
        #expect(quality == .good)
        #expect(value == .decimal(ExactDecimal(significand: 1_234_567, exponent: -2)))
        #expect(value?.description == "12345.67")
    }

    @Test func scaledSignedWithOffset() {
        // i16 -200 × 0.1 + 273.15 = 253.15
        let (value, _) = point(.i16, scale: "0.1", offset: "273.15").decode([0xFF38] as [UInt16])
        #expect(value?.description == "253.15")
    }

    @Test func bcdStaysExact() {
        let (value, quality) = point(.bcd32, order: .CDAB, scale: "0.01").decode([0x4567, 0x0123] as [UInt16])
        #expect(quality == .good)
        #expect(value?.description == "12345.67")
    }

    @Test func floatsStayBinary() {
        let (value, quality) = point(.f32, scale: "1").decode([0x4212, 0x8000] as [UInt16])
        #expect(quality == .good)
        #expect(value == .real(36.625))
    }

    @Test func nanAndBadBCDAreInvalidValues() {
        let nan = point(.f32).decode([0x7FC0, 0x0000] as [UInt16])
        #expect(nan.0 == nil && nan.1 == .invalidValue)
        let bcd = point(.bcd16).decode([0x12A4] as [UInt16])
        #expect(bcd.0 == nil && bcd.1 == .invalidValue)
        let short = point(.u32).decode([0x0001] as [UInt16])
        #expect(short.0 == nil && short.1 == .invalidValue)
    }

    @Test func boolsFromBitTables() {
        #expect(point(.bool, table: .coil).decode([1] as [UInt16]).0 == .bool(true))
        #expect(point(.bool, table: .discrete).decode([0] as [UInt16]).0 == .bool(false))
    }

    @Test func hugeUnsignedFallsBackToReal() {
        let (value, quality) = point(.u64).decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF] as [UInt16])
        #expect(quality == .good)
        #expect(value == .real(Double(UInt64.max)))
    }

    @Test func encodeInvertsDecodeForSimulators() throws {
        let p = point(.u32, scale: "0.01")
        // 12345.67 / 0.01 = 1234567 = 0x0012D687.
        let registers = try p.encode(12345.67)
        #expect(registers == [0x0012, 0xD687])
        #expect(p.decode(registers).0?.description == "12345.67")
        let f = point(.f32, order: .CDAB)
        #expect(try f.encode(36.625) == [0x8000, 0x4212])
        // -20.0 °C as i16 × 0.1 is -200 = 0xFF38.
        #expect(try point(.i16, scale: "0.1").encode(-20) == [0xFF38])
    }

    @Test func encodeRefusesAValueThePointCannotHold() {
        // 70000 does not fit a u16: an error, not 0x1170.
        #expect(throws: RegisterEncodeError.outOfRange(.float(70_000), .u16)) { try point(.u16).encode(70_000) }
        #expect(throws: RegisterEncodeError.self) { try point(.u16, scale: "0.01").encode(700) }
        #expect(throws: RegisterEncodeError.self) { try point(.u32).encode(-1) }
        #expect(throws: RegisterEncodeError.self) { try point(.i32).encode(.nan) }
    }
}
