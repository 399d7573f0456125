import MeterCore
import MeterIO
import MeterProtocols

/// A device's registers as libmodbus serves them: one `ModbusRegisterMap` per device, covering
/// each table from the profile's lowest to highest register (holes read as 0, reads outside get
/// exception 02, like most meters). Lives on the serving thread only.
final class DeviceRegisterImage {
    let device: SimulatedDevice
    let map: ModbusRegisterMap

    init(device: SimulatedDevice) throws(ModbusServerError) {
        self.device = device
        var ranges: [RegisterTable: Range<Int>] = [:]
        // The settings registers too, so that `commission` can write and read them back.
        for point in device.profile.points + Self.settingPoints(of: device.profile) {
            let lower = Int(point.address), upper = Int(point.address) + point.type.registerCount
            if let r = ranges[point.table] {
                ranges[point.table] = min(r.lowerBound, lower)..<max(r.upperBound, upper)
            } else {
                ranges[point.table] = lower..<upper
            }
        }
        map = try ModbusRegisterMap(ranges: ranges)
    }

    /// Copies the model's current values into the registers, encoded by each point's own
    /// definition (never libmodbus's float setters, which swap bytes in 3.1.6). A value the
    /// point's type cannot hold leaves its registers as they were.
    func refresh() {
        let values = device.pointValues()
        for point in device.profile.points {
            guard let words = try? point.encode(values[point.name] ?? 0) else { continue }
            map.store(point.table, at: Int(point.address), words)
        }
        for (setting, register) in device.profile.settings?.registers ?? [:] {
            guard let value = device.storedSetting(setting), let words = try? register.point(setting.rawValue).encode(value) else { continue }
            map.store(.holding, at: Int(register.address), words)
        }
    }

    /// A write to a settings register of a model with an unlock step, before the unlock value was
    /// written: refused (exception 03), so that a commissioning that skips the step fails.
    func isLockedSettingsWrite(pdu: ArraySlice<UInt8>) -> Bool {
        guard let settings = device.profile.settings, settings.unlock != nil, !device.isUnlocked,
              let (table, address, count) = Self.writtenRange(pdu: pdu), table == .holding else { return false }
        return settings.registers.values.contains { Int($0.address) < address + count && Int($0.address) + $0.type.registerCount > address }
    }

    /// The settings, unlock and apply registers of a profile, as points.
    static func settingPoints(of profile: DeviceProfile) -> [PointDefinition] {
        guard let settings = profile.settings else { return [] }
        let steps = [("unlock", settings.unlock), ("apply", settings.apply)].compactMap { name, write in write.map { $0.register.point(name) } }
        return settings.registers.map { $0.value.point($0.key.rawValue) } + steps
    }

    /// After a write request was answered: hands every point the write touched back to the model.
    func applyWrite(pdu: ArraySlice<UInt8>) {
        guard let (table, address, count) = Self.writtenRange(pdu: pdu) else { return }
        for point in device.profile.points where point.table == table {
            let start = Int(point.address), end = start + point.type.registerCount
            guard start < address + count, end > address,
                  let words = map.load(table, at: start, count: point.type.registerCount) else { continue }
            let (value, _) = point.decode(words)
            if let value { device.write(point.name, value: value.doubleValue) }
        }
        guard table == .holding else { return }
        if let unlock = device.profile.settings?.unlock {
            let start = Int(unlock.register.address), end = start + unlock.register.type.registerCount
            if start < address + count, end > address, let words = map.load(.holding, at: start, count: unlock.register.type.registerCount),
               unlock.register.point("unlock").decode(words).0?.doubleValue == unlock.value {
                device.unlock()
            }
        }
        for (setting, register) in device.profile.settings?.registers ?? [:] {
            let point = register.point(setting.rawValue)
            let start = Int(register.address), end = start + register.type.registerCount
            guard start < address + count, end > address,
                  let words = map.load(.holding, at: start, count: register.type.registerCount),
                  let value = point.decode(words).0 else { continue }
            device.commission(setting, stored: value.doubleValue)
        }
    }

    /// Which table and registers a write PDU (function code first) changes.
    static func writtenRange(pdu: ArraySlice<UInt8>) -> (RegisterTable, Int, Int)? {
        let b = Array(pdu)
        guard b.count >= 5 else { return nil }
        let address = Int(b[1]) << 8 | Int(b[2])
        let quantity = Int(b[3]) << 8 | Int(b[4])
        switch b[0] {
        case 0x05: return (.coil, address, 1)
        case 0x06, 0x16: return (.holding, address, 1)
        case 0x0F: return (.coil, address, quantity)
        case 0x10: return (.holding, address, quantity)
        case 0x17:
            guard b.count >= 9 else { return nil }
            return (.holding, Int(b[5]) << 8 | Int(b[6]), Int(b[7]) << 8 | Int(b[8]))
        default: return nil
        }
    }
}

/// What the server does with one request after faults are applied.
struct PlannedReply: Equatable {
    var bytes: [UInt8]
    var delayMs: Int
}

/// Answers requests for the devices of one line or listener; owns the libmodbus reply context.
/// Lives on the serving thread only.
final class ModbusResponder {
    let framing: ModbusFraming
    private let builder: ModbusReplyBuilder
    /// In scenario order; two may answer the same unit (factory-fresh meters on one line).
    private var images: [DeviceRegisterImage] = []
    private var random: SplitMixGenerator

    init(framing: ModbusFraming, devices: [SimulatedDevice], seed: UInt64) throws(ModbusServerError) {
        self.framing = framing
        builder = try ModbusReplyBuilder(framing: framing)
        for device in devices { images.append(try DeviceRegisterImage(device: device)) }
        random = SplitMixGenerator(seed: seed)
    }

    /// `adu` is the whole request (RTU frame with CRC, or MBAP + PDU); `unit` and `pdu` taken from it.
    /// nil means stay silent.
    func respond(to adu: [UInt8], unit: UInt8, pdu: ArraySlice<UInt8>) -> PlannedReply? {
        guard let image = images.first(where: { $0.device.unit.rawValue == unit }) else { return nil }
        return respond(to: adu, image: image, pdu: pdu)
    }

    /// The replies of every device at `unit` that `hears` the client (commissioning moves devices
    /// between units, and two factory-fresh meters share one); devices that stay silent are left out.
    func respondAll(to adu: [UInt8], unit: UInt8, pdu: ArraySlice<UInt8>, where hears: (SimulatedDevice) -> Bool) -> [PlannedReply] {
        images.filter { $0.device.unit.rawValue == unit && hears($0.device) }.compactMap { respond(to: adu, image: $0, pdu: pdu) }
    }

    private func respond(to adu: [UInt8], image: DeviceRegisterImage, pdu: ArraySlice<UInt8>) -> PlannedReply? {
        let device = image.device
        device.countRequest()
        let faults = device.faults
        if faults.noReply { return nil }
        var bytes: [UInt8]
        do {
            if let code = faults.exception {
                bytes = try builder.exception(to: adu, code: ModbusExceptionCode(rawValue: code))
            } else if let identification = Self.identification(of: device, asked: pdu) {
                bytes = framed(identification, to: adu, unit: device.unit.rawValue)
            } else if image.isLockedSettingsWrite(pdu: pdu) {
                bytes = try builder.exception(to: adu, code: .illegalDataValue)
            } else {
                image.refresh()
                bytes = try builder.reply(to: adu, map: image.map)
                // An exception reply means libmodbus refused the write; an empty reply is an
                // RTU broadcast, which libmodbus carried out without answering.
                let functionIndex = framing == .rtu ? 1 : 7
                let refused = bytes.count > functionIndex && bytes[functionIndex] & 0x80 != 0
                if !refused { image.applyWrite(pdu: pdu) }
            }
        } catch {
            return nil
        }
        if bytes.isEmpty { return nil } // broadcast
        bytes = ReplyCorruption.apply(faults, to: bytes, framing: framing, random: &random)
        return PlannedReply(bytes: bytes, delayMs: faults.delayMs)
    }

    /// The reply PDU to Read Device Identification (0x2B, MEI 0x0E, read code 01 basic or 04 one
    /// object) from a device whose profile has an `identification:` block; nil for any other
    /// request, or for a device without one (libmodbus then answers "illegal function", as many
    /// meters do).
    static func identification(of device: SimulatedDevice, asked pdu: ArraySlice<UInt8>) -> [UInt8]? {
        let request = Array(pdu)
        guard request.count >= 4, request[0] == 0x2B, request[1] == 0x0E, let id = device.profile.identification else { return nil }
        let objects = [id.vendor, id.productCode, id.revision.isEmpty ? "1.0" : id.revision].map { Array($0.utf8.prefix(64)) }
        let readCode = request[2]
        let wanted: [Int] = readCode == 0x04 ? (Int(request[3]) < objects.count ? [Int(request[3])] : []) : Array(objects.indices)
        guard !wanted.isEmpty else { return nil }
        var reply: [UInt8] = [0x2B, 0x0E, readCode, 0x01, 0x00, 0x00, UInt8(wanted.count)]
        for index in wanted {
            reply += [UInt8(index), UInt8(objects[index].count)] + objects[index]
        }
        return reply
    }

    /// `pdu` as an RTU frame (unit, PDU, CRC) or a TCP ADU (the request's MBAP header with the new length).
    private func framed(_ pdu: [UInt8], to adu: [UInt8], unit: UInt8) -> [UInt8] {
        switch framing {
        case .rtu: return ModbusCRC.appending(to: [unit] + pdu)
        case .tcp:
            let length = pdu.count + 1
            return Array(adu.prefix(4)) + [UInt8(length >> 8), UInt8(length & 0xFF), unit] + pdu
        }
    }

    /// For TCP requests to a unit nobody serves: a gateway's answer.
    func gatewayTargetFailed(_ adu: [UInt8]) -> [UInt8]? {
        try? builder.exception(to: adu, code: .gatewayTargetFailed)
    }

    var units: [UInt8] { images.map(\.device.unit.rawValue).sorted() }
}

/// Byte-level faults applied to a finished reply.
enum ReplyCorruption {
    static func apply(_ faults: DeviceFaults, to reply: [UInt8], framing: ModbusFraming,
                      random: inout SplitMixGenerator) -> [UInt8] {
        var bytes = reply
        switch framing {
        case .rtu:
            guard bytes.count >= 4 else { return bytes }
            if faults.wrongUnit {
                bytes[0] = bytes[0] >= 247 ? 1 : bytes[0] + 1
                bytes = ModbusCRC.appending(to: Array(bytes.dropLast(2)))
            }
            if faults.badCRC {
                bytes[bytes.count - 1] ^= 0xFF
                bytes[bytes.count - 2] ^= 0xFF
            }
        case .tcp:
            guard bytes.count >= 8 else { return bytes }
            if faults.wrongUnit { bytes[6] = bytes[6] &+ 1 }
            if faults.badCRC {
                bytes[0] ^= 0xFF
                bytes[1] ^= 0xFF
            }
        }
        if faults.garbage {
            let count = Int.random(in: 1...8, using: &random)
            bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } + bytes
        }
        return bytes
    }
}
