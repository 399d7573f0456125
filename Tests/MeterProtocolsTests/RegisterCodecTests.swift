import Testing
import MeterProtocols

/// Register vectors for every value type in every word order. Bytes A..D (A most significant)
/// land as the order's name says: ABCD high word first, CDAB words swapped, BADC bytes swapped
/// inside each word, DCBA both.
@Suite struct RegisterCodecTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var type: ValueType
        var order: WordOrder
        var registers: [UInt16]
        var value: RawValue
        var testDescription: String { "\(type.rawValue) \(order.rawValue) \(registers.map { String($0, radix: 16) })" }
    }

    static let vectors: [Vector] = [
        // u16 0x1234: one register, so only the byte swap matters.
        Vector(type: .u16, order: .ABCD, registers: [0x1234], value: .unsigned(0x1234)),
        Vector(type: .u16, order: .CDAB, registers: [0x1234], value: .unsigned(0x1234)),
        Vector(type: .u16, order: .BADC, registers: [0x3412], value: .unsigned(0x1234)),
        Vector(type: .u16, order: .DCBA, registers: [0x3412], value: .unsigned(0x1234)),
        // i16 -2 = 0xFFFE
        Vector(type: .i16, order: .ABCD, registers: [0xFFFE], value: .signed(-2)),
        Vector(type: .i16, order: .CDAB, registers: [0xFFFE], value: .signed(-2)),
        Vector(type: .i16, order: .BADC, registers: [0xFEFF], value: .signed(-2)),
        Vector(type: .i16, order: .DCBA, registers: [0xFEFF], value: .signed(-2)),
        // u32 0x12345678
        Vector(type: .u32, order: .ABCD, registers: [0x1234, 0x5678], value: .unsigned(0x1234_5678)),
        Vector(type: .u32, order: .CDAB, registers: [0x5678, 0x1234], value: .unsigned(0x1234_5678)),
        Vector(type: .u32, order: .BADC, registers: [0x3412, 0x7856], value: .unsigned(0x1234_5678)),
        Vector(type: .u32, order: .DCBA, registers: [0x7856, 0x3412], value: .unsigned(0x1234_5678)),
        // i32 -123456 = 0xFFFE1DC0
        Vector(type: .i32, order: .ABCD, registers: [0xFFFE, 0x1DC0], value: .signed(-123_456)),
        Vector(type: .i32, order: .CDAB, registers: [0x1DC0, 0xFFFE], value: .signed(-123_456)),
        Vector(type: .i32, order: .BADC, registers: [0xFEFF, 0xC01D], value: .signed(-123_456)),
        Vector(type: .i32, order: .DCBA, registers: [0xC01D, 0xFEFF], value: .signed(-123_456)),
        // u64 0x0102030405060708
        Vector(type: .u64, order: .ABCD, registers: [0x0102, 0x0304, 0x0506, 0x0708], value: .unsigned(0x0102_0304_0506_0708)),
        Vector(type: .u64, order: .CDAB, registers: [0x0708, 0x0506, 0x0304, 0x0102], value: .unsigned(0x0102_0304_0506_0708)),
        Vector(type: .u64, order: .BADC, registers: [0x0201, 0x0403, 0x0605, 0x0807], value: .unsigned(0x0102_0304_0506_0708)),
        Vector(type: .u64, order: .DCBA, registers: [0x0807, 0x0605, 0x0403, 0x0201], value: .unsigned(0x0102_0304_0506_0708)),
        // u64 above Int64.max stays unsigned
        Vector(type: .u64, order: .ABCD, registers: [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], value: .unsigned(.max)),
        Vector(type: .u64, order: .ABCD, registers: [0x8000, 0x0000, 0x0000, 0x0001], value: .unsigned(0x8000_0000_0000_0001)),
        // i64 -2 = 0xFFFF_FFFF_FFFF_FFFE
        Vector(type: .i64, order: .ABCD, registers: [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], value: .signed(-2)),
        Vector(type: .i64, order: .CDAB, registers: [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], value: .signed(-2)),
        Vector(type: .i64, order: .BADC, registers: [0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF], value: .signed(-2)),
        Vector(type: .i64, order: .DCBA, registers: [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF], value: .signed(-2)),
        Vector(type: .i64, order: .ABCD, registers: [0x8000, 0x0000, 0x0000, 0x0000], value: .signed(.min)),
        // f32 36.625 = 0x42128000
        Vector(type: .f32, order: .ABCD, registers: [0x4212, 0x8000], value: .float(36.625)),
        Vector(type: .f32, order: .CDAB, registers: [0x8000, 0x4212], value: .float(36.625)),
        Vector(type: .f32, order: .BADC, registers: [0x1242, 0x0080], value: .float(36.625)),
        Vector(type: .f32, order: .DCBA, registers: [0x0080, 0x1242], value: .float(36.625)),
        // f32 -230.5 = 0xC3668000 (a negative voltage reading from a reversed CT)
        Vector(type: .f32, order: .ABCD, registers: [0xC366, 0x8000], value: .float(-230.5)),
        // f64 36.625 = 0x4042500000000000
        Vector(type: .f64, order: .ABCD, registers: [0x4042, 0x5000, 0x0000, 0x0000], value: .float(36.625)),
        Vector(type: .f64, order: .CDAB, registers: [0x0000, 0x0000, 0x5000, 0x4042], value: .float(36.625)),
        Vector(type: .f64, order: .BADC, registers: [0x4240, 0x0050, 0x0000, 0x0000], value: .float(36.625)),
        Vector(type: .f64, order: .DCBA, registers: [0x0000, 0x0000, 0x0050, 0x4240], value: .float(36.625)),
        // BCD: each nibble one decimal digit
        Vector(type: .bcd16, order: .ABCD, registers: [0x1234], value: .unsigned(1234)),
        Vector(type: .bcd16, order: .CDAB, registers: [0x9999], value: .unsigned(9999)),
        Vector(type: .bcd16, order: .BADC, registers: [0x3412], value: .unsigned(1234)),
        Vector(type: .bcd16, order: .DCBA, registers: [0x0900], value: .unsigned(9)),
        Vector(type: .bcd32, order: .ABCD, registers: [0x1234, 0x5678], value: .unsigned(12_345_678)),
        Vector(type: .bcd32, order: .CDAB, registers: [0x5678, 0x1234], value: .unsigned(12_345_678)),
        Vector(type: .bcd32, order: .BADC, registers: [0x3412, 0x7856], value: .unsigned(12_345_678)),
        Vector(type: .bcd32, order: .DCBA, registers: [0x7856, 0x3412], value: .unsigned(12_345_678)),
        // bool: a coil or discrete input arrives as a 0/1 word
        Vector(type: .bool, order: .ABCD, registers: [0x0001], value: .bit(true)),
        Vector(type: .bool, order: .ABCD, registers: [0x0000], value: .bit(false)),
        Vector(type: .bool, order: .BADC, registers: [0x0100], value: .bit(true)),
    ]

    @Test(arguments: vectors)
    func decodes(_ v: Vector) throws {
        #expect(try RegisterCodec.decode(v.registers, as: v.type, order: v.order) == v.value)
    }

    @Test(arguments: vectors)
    func encodes(_ v: Vector) throws {
        #expect(try RegisterCodec.encode(v.value, as: v.type, order: v.order) == v.registers)
    }

    @Test func everyTypeAndOrderIsCovered() {
        for type in ValueType.allCases {
            for order in WordOrder.allCases where type != .bool {
                #expect(Self.vectors.contains { $0.type == type && $0.order == order }, "\(type) \(order)")
            }
        }
    }

    @Test func nanFloatDecodesAsNaN() throws {
        guard case let .float(f) = try RegisterCodec.decode([0x7FC0, 0x0000] as [UInt16], as: .f32, order: .ABCD) else {
            Issue.record("not a float"); return
        }
        #expect(f.isNaN)
        guard case let .float(inf) = try RegisterCodec.decode([0x0000, 0x7F80] as [UInt16], as: .f32, order: .CDAB) else {
            Issue.record("not a float"); return
        }
        #expect(inf == .infinity)
    }

    @Test func decodesFromASliceOfALongerRead() throws {
        let read: [UInt16] = [0xAAAA, 0x4212, 0x8000, 0xBBBB]
        #expect(try RegisterCodec.decode(read[1...], as: .f32, order: .ABCD) == .float(36.625))
    }

    @Test func invalidBCDNamesTheRegister() {
        #expect(throws: RegisterDecodeError.invalidBCD(register: 0x12A4)) {
            try RegisterCodec.decode([0x12A4] as [UInt16], as: .bcd16, order: .ABCD)
        }
        #expect(throws: RegisterDecodeError.invalidBCD(register: 0x5F78)) {
            try RegisterCodec.decode([0x1234, 0x5F78] as [UInt16], as: .bcd32, order: .ABCD)
        }
        #expect(throws: RegisterDecodeError.invalidBCD(register: 0xF234)) {
            try RegisterCodec.decode([0x5678, 0xF234] as [UInt16], as: .bcd32, order: .CDAB)
        }
        #expect(RegisterDecodeError.invalidBCD(register: 0x12A4).description == "register 0x12A4 is not BCD")
    }

    @Test func tooFewRegisters() {
        #expect(throws: RegisterDecodeError.tooFewRegisters(needed: 2, got: 1)) {
            try RegisterCodec.decode([0x4212] as [UInt16], as: .f32, order: .ABCD)
        }
        #expect(throws: RegisterDecodeError.tooFewRegisters(needed: 4, got: 0)) {
            try RegisterCodec.decode([] as [UInt16], as: .u64, order: .ABCD)
        }
    }

    @Test(arguments: WordOrder.allCases)
    func roundTrips(order: WordOrder) throws {
        let cases: [(ValueType, RawValue)] = [
            (.u16, .unsigned(65535)), (.u16, .unsigned(0)), (.i16, .signed(-32768)), (.i16, .signed(32767)),
            (.u32, .unsigned(4_294_967_295)), (.i32, .signed(-2_147_483_648)), (.i32, .signed(1)),
            (.u64, .unsigned(1 << 63)), (.i64, .signed(-9_000_000_000_000)),
            (.f32, .float(-0.5)), (.f32, .float(0.15625)), (.f32, .float(16_777_216)),
            (.f64, .float(-12345.678901)), (.f64, .float(.infinity)),
            (.bcd16, .unsigned(9876)), (.bcd32, .unsigned(99_999_999)), (.bool, .bit(true)), (.bool, .bit(false)),
        ]
        for (type, value) in cases {
            let registers = try RegisterCodec.encode(value, as: type, order: order)
            #expect(registers.count == type.registerCount)
            #expect(try RegisterCodec.decode(registers, as: type, order: order) == value, "\(type) \(value)")
        }
    }

    /// A value the type cannot hold is an error: it used to be cut to the type's width, so 70 000
    /// written as u16 went out as 0x1170 (4464) and -1 as 0xFFFF (65535) without a word.
    @Test func encodeRefusesValuesTheTypeCannotHold() throws {
        let refused: [(RawValue, ValueType)] = [
            (.signed(70_000), .u16), (.signed(-1), .u16), (.unsigned(65_536), .u16),
            (.signed(32_768), .i16), (.signed(-32_769), .i16), (.float(32_767.5), .i16),
            (.unsigned(4_294_967_296), .u32), (.signed(-1), .u32), (.signed(2_147_483_648), .i32),
            (.signed(-1), .u64), (.unsigned(1 << 63), .i64),
            (.unsigned(123_456), .bcd16), (.signed(-1), .bcd16), (.unsigned(100_000_000), .bcd32),
            (.float(.infinity), .i32), (.float(1e300), .i64),
            (.float(1e39), .f32),
        ]
        for (value, type) in refused {
            #expect(throws: RegisterEncodeError.outOfRange(value, type), "\(value) as \(type)") {
                try RegisterCodec.encode(value, as: type, order: .ABCD)
            }
        }
        // NaN equals nothing, not even itself: checked by kind.
        #expect(throws: RegisterEncodeError.self) { try RegisterCodec.encode(.float(.nan), as: .u16, order: .ABCD) }
        #expect(RegisterEncodeError.outOfRange(.signed(70_000), .u16).description == "signed(70000) does not fit u16")
        // The edges still fit; floats round to the nearest integer.
        #expect(try RegisterCodec.encode(.unsigned(65_535), as: .u16, order: .ABCD) == [0xFFFF])
        #expect(try RegisterCodec.encode(.signed(-32_768), as: .i16, order: .ABCD) == [0x8000])
        #expect(try RegisterCodec.encode(.unsigned(9_999), as: .bcd16, order: .ABCD) == [0x9999])
        #expect(try RegisterCodec.encode(.float(2.6), as: .i16, order: .ABCD) == [0x0003])
        #expect(try RegisterCodec.encode(.float(-2.5), as: .i16, order: .ABCD) == [0xFFFD])
        // Infinity and NaN are floats, so a float type carries them.
        #expect(try RegisterCodec.encode(.float(.infinity), as: .f32, order: .ABCD) == [0x7F80, 0x0000])
    }
}
