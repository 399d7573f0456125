import MeterCore
import MeterProtocols

/// Modbus RTU framing: a stream of requests or responses split into arbitrary reads, with resets
/// between some of them. Every frame that comes out has a valid CRC and a plausible length.
func fuzzModbusRTU(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let mode = input.byte(), seed = input.byte()
    let direction: ModbusRTUFramer.Direction = mode & 1 == 0 ? .request : .response
    var framer = ModbusRTUFramer(direction: direction, capacity: mode & 2 == 0 ? 4 * ModbusLimits.maxRTUFrame : 0)
    let data = input.remaining
    _ = ModbusRTUFramer.expectedLength(data, direction: direction)
    for (n, piece) in chunks(data, seed: seed).enumerated() {
        framer.append(piece)
        while let frame = framer.nextFrame() {
            expect(frame.bytes.count >= 4 && frame.bytes.count <= ModbusLimits.maxRTUFrame, "RTU frame of \(frame.bytes.count) bytes")
            expect(ModbusCRC.isValid(frame.bytes), "RTU frame with a bad CRC")
            _ = (frame.unit, frame.function, frame.isException, frame.pdu.count)
            if direction == .response, let objects = ModbusDeviceIdentification.objects(in: frame.pdu) {
                _ = objects.count
            }
        }
        expect(framer.bufferedCount <= framer.capacity, "RTU framer holds \(framer.bufferedCount) > \(framer.capacity) bytes")
        if mode & 4 != 0, n % 3 == 2 { framer.reset() }
    }
}

/// Register decoding: every type in every word order, as raw values and as a profile's point with
/// a scale and offset. Integers and BCD that decode encode back to the same registers.
func fuzzModbusValues(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let scale = ExactDecimal(significand: Int64(Int16(bitPattern: input.word())), exponent: Int(Int8(bitPattern: input.byte())) % 20)
    let offset = ExactDecimal(significand: Int64(Int16(bitPattern: input.word())), exponent: Int(Int8(bitPattern: input.byte())) % 20)
    let data = Array(input.remaining)
    let registers = stride(from: 0, to: data.count - 1, by: 2).map { UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]) }
    for type in ValueType.allCases {
        for order in WordOrder.allCases {
            guard let raw = try? RegisterCodec.decode(registers, as: type, order: order) else { continue }
            let point = PointDefinition(name: PointName("fuzz"), table: .holding, address: 0, type: type, wordOrder: order,
                                        scale: scale, offset: offset)
            let (value, quality) = point.decode(registers)
            _ = (value?.description, quality.description, raw.asDouble, raw.asInt64, raw.asBit)
            switch type {
            case .bool, .f32, .f64: continue
            default: break
            }
            let again = try? RegisterCodec.encode(raw, as: type, order: order)
            expect(again.map { $0[...] == registers.prefix(type.registerCount) } ?? false,
                   "\(type) \(order) of \(registers.prefix(type.registerCount)) does not encode back: \(String(describing: again))")
        }
    }
}

/// The Modbus TCP (MBAP) reply decoder: a request in flight chosen by the input, then the rest of
/// the input as the replies, in arbitrary reads. A read's values are as many as were asked for.
func fuzzModbusTCP(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let seed = input.byte()
    var decoder = ModbusTCPReplyDecoder()
    func nextRequest() -> ModbusTCP.Request {
        let kind = input.byte() % 5, address = input.word()
        switch kind {
        case 0: return .writeCoil(address: address, value: input.byte() & 1 == 1)
        case 1: return .writeRegister(address: address, value: input.word())
        case 2: return .writeRegisters(address: address, values: Array(repeating: 0, count: Int(input.byte() % 124)))
        default: return .read(function: 1 + input.byte() % 4, address: address, count: 1 + UInt16(input.word() % 2000))
        }
    }
    var request = nextRequest()
    var transaction = input.word()
    let unit = input.byte()
    decoder.expect(transaction: transaction, unit: unit, request: request)
    for piece in chunks(input.remaining, seed: seed) {
        decoder.append(piece)
        do throws(ModbusTCPDecodeError) {
            while let reply = try decoder.decode() {
                if case let .values(values) = reply {
                    switch request {
                    case let .read(_, _, count): expect(values.count == Int(count), "\(values.count) values for a read of \(count)")
                    default: expect(values.isEmpty, "values in the reply to a write")
                    }
                }
                request = .read(function: 3, address: 0, count: UInt16(1 + transaction % 125))
                transaction &+= 1
                decoder.expect(transaction: transaction, unit: unit, request: request)
            }
        } catch {
            _ = error.description
            expect(decoder.bufferedCount == 0, "bytes kept after a decode error")
        }
    }
}

/// DL/T 645: the stream decoder over arbitrary reads; every frame it finds encodes and decodes
/// back to itself, and its data goes through the value, status word, clock and DI decoders.
func fuzzDLT645(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let seed = input.byte(), capacity = 16 + Int(input.byte()) * 4
    var decoder = DLT645StreamDecoder(capacity: capacity)
    let data = input.remaining
    if let frame = try? DLT645Frame.decode(data) { checkDLT645(frame) }
    for piece in chunks(data, seed: seed) {
        decoder.append(piece)
        while let item = decoder.next() {
            switch item {
            case let .frame(frame): checkDLT645(frame)
            case let .corrupt(address, _, error): _ = (address.count, error)
            }
        }
        expect(decoder.bufferedCount <= decoder.capacity, "DL/T 645 decoder holds more than its capacity")
    }
}

private func checkDLT645(_ frame: DLT645Frame) {
    if let wire = try? frame.encoded(preamble: 0) {
        let again = try? DLT645Frame.decode(wire)
        expect(again == frame, "DL/T 645 frame \(wire) does not decode to itself")
    }
    let payload = frame.data
    _ = try? DLT645DataID(wire: payload, width: 4)
    _ = try? DLT645DataID(wire: payload, width: 2)
    let item = payload.dropFirst(4)
    for format in [DLT645ValueFormat.bcd(digits: 8, decimals: 2, signed: false), .bcd(digits: 6, decimals: 4, signed: true),
                   .bcd(digits: 3, decimals: 1, signed: true), .binary(bytes: 4), .binary(bytes: 8)] {
        _ = try? format.decode(item)
    }
    for pattern in DLT645ClockPattern.allCases { _ = try? DLT645ValueFormat.clock(pattern).decode(item) }
    _ = try? DLT645StatusWord1(payload: item)
    _ = try? MeterDateTime(wireSecondsFirst: item)
    _ = try? DLT645RelayCommand(data: payload)
    // The master's checks of a reply, against requests to the address the frame names (and
    // asking for the DI it carries), so that replies get past the address and DI checks.
    let address = frame.address
    if let di = try? DLT645DataID(wire: payload, width: 4) {
        _ = try? DLT645Reply.read(frame, answering: DLT645Request.read(di, from: address))
        _ = try? DLT645Reply.read(frame, answering: DLT645Request.readFollowUp(di, sequence: payload.last ?? 0, from: address))
        _ = try? DLT645Security.reply(frame, answering: DLT645Frame(address: address, control: DLT645Control(rawValue: 0x03), data: di.wire))
    }
    if let di = try? DLT645DataID(wire: payload, width: 2) {
        _ = try? DLT645Reply.read(frame, answering: DLT645Request.read1997(di, from: address))
    }
    _ = try? DLT645Reply.address(frame)
    if let request = try? DLT645Request.writeAddress(address) { _ = try? DLT645Reply.writeAddress(frame, answering: request) }
    if let feature = try? DLT645BaudFeature(baud: 9600), let request = try? DLT645Request.changeBaud(feature, of: address) {
        _ = try? DLT645Reply.changeBaud(frame, answering: request)
    }
}

/// CJ/T 188: the stream decoder over arbitrary reads; every frame encodes back to the bytes it
/// came from and its data goes through the current-data decoder in both clock layouts.
func fuzzCJT188(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let seed = input.byte()
    var decoder = CJT188StreamDecoder()
    let data = Array(input.remaining)
    if let frame = try? CJT188Frame.decode(data) { checkCJT188(frame) }
    for piece in chunks(data[...], seed: seed) {
        decoder.append(piece)
        while let frame = decoder.nextFrame() { checkCJT188(frame) }
        expect(decoder.bufferedCount <= decoder.capacity, "CJ/T 188 decoder holds more than its capacity")
    }
}

private func checkCJT188(_ frame: CJT188Frame) {
    let wire = frame.encoded()
    expect((try? CJT188Frame.decode(wire)) == frame, "CJ/T 188 frame \(wire) does not decode to itself")
    // The master's check of a reply against requests to the address the frame names.
    for order in CJT188DIOrder.allCases {
        let serial = frame.data.count > 2 ? frame.data[2] : 0
        let read = CJT188Request.readCurrentData(meterType: frame.meterType, address: frame.address, order: order, serial: serial)
        _ = try? CJT188Reply.payload(of: frame, answering: read, dataID: .currentData)
        let valve = CJT188Request.valve(.close, meterType: frame.meterType, address: frame.address, order: order, serial: serial)
        _ = try? CJT188Reply.payload(of: frame, answering: valve, dataID: .valveControl)
        _ = try? CJT188Reply.payload(of: frame, answering: CJT188Request.readAddress(order: order, serial: serial), dataID: .readAddress)
    }
    for skip in [0, 3] {
        for layout in [CJT188ClockLayout.secondsFirst, .yearFirst] {
            if let current = try? CJT188CurrentData.decode(frame.data.dropFirst(skip)[...], clockLayout: layout) {
                _ = (current.currentUnit.description, current.status.description, current.clock)
            }
        }
    }
}

/// RDM6300: tags out of a stream of arbitrary reads; every tag encodes to a valid frame.
func fuzzRDM6300(_ bytes: [UInt8]) {
    var input = FuzzInput(bytes)
    let seed = input.byte()
    var decoder = RDM6300StreamDecoder()
    for piece in chunks(input.remaining, seed: seed) {
        decoder.append(piece)
        while let tag = decoder.nextTag() {
            expect(tag.bytes.count == EM4100Tag.byteCount, "tag of \(tag.bytes.count) bytes")
            let wire = RDM6300Frame.encode(tag)
            expect(wire.count == RDM6300Frame.length, "RDM6300 frame of \(wire.count) bytes")
            var again = RDM6300StreamDecoder()
            again.append(wire)
            expect(again.nextTag() == tag, "tag \(tag.bytes) does not decode from its own frame")
            _ = tag.tagNumber
        }
    }
}
