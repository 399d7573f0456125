import MeterCore
import MeterIO
import MeterProtocols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What to try on which ports.
public struct ScanOptions: Sendable {
    public var ports: [String]
    public var bauds: [Int]
    public var parities: [Parity]
    public var units: [UInt8]
    public var protocols: [WireProtocol]
    /// How long a meter may take to start its reply, beyond the line time.
    public var turnaroundMs: Int

    public init(ports: [String], bauds: [Int], parities: [Parity], units: [UInt8], protocols: [WireProtocol], turnaroundMs: Int) {
        self.ports = ports
        self.bauds = bauds
        self.parities = parities
        self.units = units
        self.protocols = protocols
        self.turnaroundMs = turnaroundMs
    }

    /// Probes before any address search narrows: one per unit id, one wildcard per addressed protocol.
    var probesPerSetting: Int {
        (protocols.contains(.modbus) ? units.count : 0) + protocols.filter(\.usesMeterAddress).count
    }
}

/// What a scan reports while it runs.
public enum ScanEvent: Sendable {
    /// Something the technician should know (a parity a port cannot take).
    case note(String)
    case found(ScanFinding)
    case progress(ScanProgress, label: String)
}

/// A port that could not be opened at all.
public struct ScanError: Error, Sendable, CustomStringConvertible {
    public var port: String
    public var reason: String
    public var description: String { "cannot scan \(port): \(reason)" }

    public init(port: String, reason: String) {
        self.port = port
        self.reason = reason
    }
}

/// Finds meters on serial lines: for every port, baud rate and parity, Modbus unit ids (a
/// one-register read, where any answer — an exception too — proves a device, then Read Device
/// Identification), DL/T 645 addresses (read address with the all-`AA` wildcard, collisions
/// resolved by `AddressSearch`) and CJ/T 188 addresses (the same with the 7-byte wildcard).
///
/// Blocking: `run` belongs on a dedicated thread. Events go to `report` on that thread.
public final class LineScanner {
    private let options: ScanOptions
    private let profiles: [String: DeviceProfile]
    private let report: (ScanEvent) -> Void
    private var progress: ScanProgress
    private let startedMs = MonotonicClock.nowMs()
    private var serial: UInt8 = 0

    public init(options: ScanOptions, profiles: [String: DeviceProfile], report: @escaping (ScanEvent) -> Void) {
        self.options = options
        self.profiles = profiles
        self.report = report
        progress = ScanProgress(total: options.ports.count * options.bauds.count * options.parities.count * options.probesPerSetting)
    }

    public func run() throws(ScanError) -> [ScanFinding] {
        var findings: [ScanFinding] = []
        for port in options.ports {
            var parities = options.parities
            for (b, baud) in options.bauds.enumerated() {
                var p = 0
                while p < parities.count {
                    let settings = SerialSettings(baud: baud, parity: parities[p])
                    let channel: ScanChannel
                    do throws(SerialPortError) {
                        channel = try ScanChannel(port: port, settings: settings, turnaroundMs: options.turnaroundMs)
                    } catch where error.code == EINVAL && settings.parity != .none {
                        // A pty refuses PARENB: say so once and go on without that parity.
                        report(.note("\(port) cannot take parity \(settings.parity.rawValue) (the port refuses PARENB, as a pty does): scanning without it"))
                        progress.total -= (options.bauds.count - b) * options.probesPerSetting
                        parities.remove(at: p)
                        if parities.isEmpty {
                            parities = [.none]
                            progress.total += (options.bauds.count - b) * options.probesPerSetting
                        }
                        continue
                    } catch {
                        throw ScanError(port: port, reason: error.description)
                    }
                    do throws(SerialPortError) {
                        findings += try scan(port, on: channel)
                    } catch {
                        throw ScanError(port: port, reason: error.description)
                    }
                    p += 1
                }
            }
        }
        return findings
    }

    private func scan(_ port: String, on channel: ScanChannel) throws(SerialPortError) -> [ScanFinding] {
        var found: [ScanFinding] = []
        func add(_ finding: ScanFinding) {
            var finding = finding
            finding.profile = ScanProfileMatch.profile(for: finding, among: profiles)
            report(.found(finding))
            found.append(finding)
        }
        if options.protocols.contains(.modbus) {
            for unit in options.units {
                if let finding = try probeModbus(unit, port: port, on: channel) { add(finding) }
            }
        }
        if options.protocols.contains(.dlt645) {
            for finding in try searchDLT645(port: port, on: channel) { add(finding) }
        }
        if options.protocols.contains(.cjt188) {
            for finding in try searchCJT188(port: port, on: channel) { add(finding) }
        }
        return found
    }

    private func step(_ label: String) {
        progress.done += 1
        progress.elapsedSeconds = Double(MonotonicClock.nowMs() - startedMs) / 1000
        report(.progress(progress, label: label))
    }

    // MARK: - Modbus

    private func probeModbus(_ unit: UInt8, port: String, on channel: ScanChannel) throws(SerialPortError) -> ScanFinding? {
        defer { step("\(channel.settings.summary) modbus unit \(unit)") }
        // Holding register 0: any reply, "illegal data address" included, proves a device.
        guard try modbusReply(unit, pdu: [0x03, 0x00, 0x00, 0x00, 0x01], on: channel) != nil else { return nil }
        var finding = ScanFinding(port: port, protocolName: .modbus, settings: channel.settings, unit: unit)
        if let reply = try modbusReply(unit, pdu: ModbusDeviceIdentification.basicRequest, on: channel), !reply.isException,
           let objects = ModbusDeviceIdentification.objects(in: reply.pdu) {
            func text(_ id: UInt8) -> String { String(decoding: objects[id] ?? [], as: UTF8.self) }
            finding.identification = ModbusIdentification(vendor: text(ModbusDeviceIdentification.vendorName),
                                                          productCode: text(ModbusDeviceIdentification.productCode),
                                                          revision: text(ModbusDeviceIdentification.revision))
        }
        return finding
    }

    /// The reply frame of `unit` to `pdu`, or nil when none came whole.
    private func modbusReply(_ unit: UInt8, pdu: [UInt8], on channel: ScanChannel) throws(SerialPortError) -> ModbusRTUFrame? {
        func frame(in bytes: [UInt8]) -> ModbusRTUFrame? {
            var framer = ModbusRTUFramer(direction: .response)
            framer.append(bytes)
            while let frame = framer.nextFrame() {
                if frame.unit == unit && frame.function & 0x7F == pdu[0] { return frame }
            }
            return nil
        }
        return frame(in: try channel.exchange(ModbusCRC.appending(to: [unit] + pdu)) { frame(in: $0) != nil })
    }

    // MARK: - DL/T 645

    private func searchDLT645(port: String, on channel: ScanChannel) throws(SerialPortError) -> [ScanFinding] {
        var failure: SerialPortError?
        var search = AddressSearch(width: 6)
        search.willNarrow = { [self] in progress.total += $0 }
        let label = "\(channel.settings.summary) dlt645"
        let found = search.run(probe: { pattern in
            defer { step(label + " " + writtenAddress(pattern)) }
            guard failure == nil else { return .silent }
            do throws(SerialPortError) { return try probeDLT645(pattern, on: channel) } catch { failure = error; return .silent }
        }, confirm: { address in
            guard failure == nil else { return false }
            do throws(SerialPortError) { return try confirmDLT645(address, on: channel) } catch { failure = error; return false }
        })
        if let failure { throw failure }
        return found.compactMap { wire in
            (try? DLT645Address(wire: wire)).map { ScanFinding(port: port, protocolName: .dlt645, settings: channel.settings, address: $0.written) }
        }
    }

    private func probeDLT645(_ pattern: [UInt8], on channel: ScanChannel) throws(SerialPortError) -> AddressProbe {
        guard let address = try? DLT645Address(wire: pattern), let request = try? DLT645Frame(address: address, control: .readAddress).encoded() else { return .silent }
        let bytes = try channel.exchange(request)
        var decoder = DLT645StreamDecoder()
        decoder.append(bytes)
        var replies: [DLT645Frame] = []
        var corrupt = 0
        var foreign = 0
        while let item = decoder.next() {
            switch item {
            case let .frame(frame) where frame.control.isFromMeter && frame.control.function == DLT645Control.readAddress.function:
                replies.append(frame)
            case .frame: foreign += 1
            case .corrupt: corrupt += 1
            }
        }
        if replies.count == 1, corrupt == 0, let found = try? DLT645Reply.address(replies[0]) { return .one(found.wire) }
        // A few bytes are what a meter at another rate makes of the request, and whole frames that
        // are no reply (an adapter's echo of the request) are not meters: no one here.
        if replies.isEmpty, corrupt == 0, foreign > 0 || bytes.count < DLT645Frame.overhead { return .silent }
        return .collision
    }

    /// Reads combined active energy at the meter's full address: any reply from it, an error
    /// reply included, confirms it.
    private func confirmDLT645(_ wire: [UInt8], on channel: ScanChannel) throws(SerialPortError) -> Bool {
        guard let address = try? DLT645Address(wire: wire), let request = try? DLT645Request.read(DLT645DataID(0x0000_0000), from: address).encoded() else { return false }
        func answered(_ bytes: [UInt8]) -> Bool {
            var decoder = DLT645StreamDecoder()
            decoder.append(bytes)
            while let frame = decoder.nextFrame() {
                if frame.address == address && frame.control.isFromMeter { return true }
            }
            return false
        }
        return answered(try channel.exchange(request, complete: answered))
    }

    // MARK: - CJ/T 188

    private func searchCJT188(port: String, on channel: ScanChannel) throws(SerialPortError) -> [ScanFinding] {
        var failure: SerialPortError?
        var meterTypes: [[UInt8]: UInt8] = [:]
        var order = CJT188DIOrder.highFirst
        var search = AddressSearch(width: CJT188Address.byteCount)
        search.willNarrow = { [self] in progress.total += $0 }
        let label = "\(channel.settings.summary) cjt188"
        let found = search.run(probe: { pattern in
            defer { step(label + " " + writtenAddress(pattern)) }
            guard failure == nil else { return .silent }
            do throws(SerialPortError) {
                var outcome = try probeCJT188(pattern, order: order, types: &meterTypes, on: channel)
                // Meters differ in the DI byte order they take: the wildcard tries both.
                if outcome == .silent, pattern.allSatisfy({ $0 == AddressSearch.wildcard }) {
                    outcome = try probeCJT188(pattern, order: order.other, types: &meterTypes, on: channel)
                    if outcome != .silent { order = order.other }
                }
                return outcome
            } catch { failure = error; return .silent }
        }, confirm: { address in
            guard failure == nil else { return false }
            do throws(SerialPortError) { return try confirmCJT188(address, order: order, on: channel) } catch { failure = error; return false }
        })
        if let failure { throw failure }
        return found.compactMap { wire -> ScanFinding? in
            guard let address = CJT188Address(wire: wire) else { return nil }
            var finding = ScanFinding(port: port, protocolName: .cjt188, settings: channel.settings, address: address.written)
            finding.meterType = meterTypes[wire]
            return finding
        }
    }

    private func nextSerial() -> UInt8 {
        serial &+= 1
        return serial
    }

    private func probeCJT188(_ pattern: [UInt8], order: CJT188DIOrder, types: inout [[UInt8]: UInt8],
                             on channel: ScanChannel) throws(SerialPortError) -> AddressProbe {
        guard let address = CJT188Address(wire: pattern) else { return .silent }
        let request = CJT188Frame(meterType: .wildcard, address: address, control: .readAddress,
                                  data: CJT188DataID.readAddress.bytes(order) + [nextSerial()])
        let bytes = try channel.exchange(request.encoded(preamble: 2))
        var decoder = CJT188StreamDecoder()
        decoder.append(bytes)
        var replies: [CJT188Frame] = []
        var foreign = 0
        while let frame = decoder.nextFrame() {
            if frame.control.isReply && frame.control.function == CJT188Control.readAddress.function { replies.append(frame) } else { foreign += 1 }
        }
        if replies.count == 1, decoder.checksumErrors == 0 {
            types[replies[0].address.wire] = replies[0].meterType.rawValue
            return .one(replies[0].address.wire)
        }
        if replies.isEmpty, decoder.checksumErrors == 0, foreign > 0 || bytes.count < CJT188Frame.overhead { return .silent }
        return .collision
    }

    /// Reads current data at the meter's full address: any reply from it confirms it.
    private func confirmCJT188(_ wire: [UInt8], order: CJT188DIOrder, on channel: ScanChannel) throws(SerialPortError) -> Bool {
        guard let address = CJT188Address(wire: wire) else { return false }
        let request = CJT188Request.readCurrentData(meterType: .wildcard, address: address, order: order, serial: nextSerial())
        func answered(_ bytes: [UInt8]) -> Bool {
            var decoder = CJT188StreamDecoder()
            decoder.append(bytes)
            while let frame = decoder.nextFrame() {
                if frame.address == address && frame.control.isReply { return true }
            }
            return false
        }
        return answered(try channel.exchange(request.encoded(preamble: 2), complete: answered))
    }
}

extension DLT645Address {
    /// A wire pattern as written, wildcard bytes as `AA`: `AAAAAAAAAA01`.
    static func writtenPattern(_ wire: [UInt8]) -> String { wire.reversed().map { Hex.byte($0) }.joined() }
}

extension CJT188Address {
    static func writtenPattern(_ wire: [UInt8]) -> String { wire.reversed().map { Hex.byte($0) }.joined() }
}

/// A searched address (wire order, low byte first) as a nameplate writes it, `AA` where still open.
private func writtenAddress(_ wire: [UInt8]) -> String { wire.reversed().map { Hex.byte($0) }.joined() }
