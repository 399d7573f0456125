import MeterCore
import MeterProtocols

/// What one poll cycle costs on a bus, planned versus one request per point — the report behind
/// `meteragent plan`.
public struct BusPlanReport: Sendable {
    public struct DeviceLine: Sendable {
        public var device: DeviceConfig
        public var reads: [PlannedRead]
        public var pointCount: Int
    }

    public var bus: BusConfig
    public var devices: [DeviceLine]

    public var plannedRequests: Int { devices.reduce(0) { $0 + $1.reads.count } }
    public var naiveRequests: Int { devices.reduce(0) { $0 + $1.pointCount } }

    public init(bus: BusConfig, devices: [DeviceConfig]) throws(PlanError) {
        self.bus = bus
        var lines: [DeviceLine] = []
        for device in devices {
            let reads = try device.profile.planner.plan(device.profile.points.map(\.span))
            lines.append(DeviceLine(device: device, reads: reads, pointCount: device.profile.points.count))
        }
        self.devices = lines
    }

    private var isSerial: Bool { if case .serial = bus.transport { true } else { false } }

    private func bytes(_ read: PlannedRead) -> Int {
        let b = isSerial ? ModbusWireCost.rtuBytes(read) : ModbusWireCost.tcpBytes(read)
        return b.request + b.response
    }

    /// One read per point, as a naive poller would do it.
    private func naiveReads(_ line: DeviceLine) -> [PlannedRead] {
        line.device.profile.points.enumerated().map { i, p in
            PlannedRead(table: p.table, start: p.address, count: p.type.registerCount, members: [.init(point: i, offset: 0)])
        }
    }

    public var plannedBytes: Int { devices.flatMap(\.reads).reduce(0) { $0 + bytes($1) } }
    public var naiveBytes: Int { devices.flatMap(naiveReads).reduce(0) { $0 + bytes($1) } }

    /// Least bus time of a cycle on a serial line (both frames and the 3.5-character silences);
    /// nil for TCP, where the wire is not the bottleneck.
    public var plannedSeconds: Double? { seconds(devices.flatMap(\.reads)) }
    public var naiveSeconds: Double? { seconds(devices.flatMap(naiveReads)) }

    private func seconds(_ reads: [PlannedRead]) -> Double? {
        guard case let .serial(_, settings, _) = bus.transport else { return nil }
        return reads.reduce(0) { $0 + ModbusWireCost.rtuSeconds($1, framing: settings.framing) }
    }

    public var text: String {
        var out = ""
        switch bus.transport {
        case let .serial(port, settings, _): out += "bus \(bus.id): serial \(port) \(settings.summary), Modbus RTU\n"
        case let .tcp(host, port): out += "bus \(bus.id): tcp \(host):\(port), Modbus TCP\n"
        }
        for line in devices {
            out += "  device \(line.device.id) unit \(line.device.unit) (\(line.device.profile.name)): \(line.pointCount) points in \(line.reads.count) requests\n"
            var rows: [[String]] = []
            for read in line.reads {
                let names = read.members.map { line.device.profile.points[$0.point].name.rawValue }
                rows.append(["    read \(read.table.rawValue)", "0x" + Hex.word(read.start), "count \(read.count)",
                             "fc \(read.table.readFunction)", names.joined(separator: ", ")])
            }
            out += TextFormat.table(rows)
        }
        out += "  per cycle: \(plannedRequests) requests, \(plannedBytes) bytes on the wire"
        if let s = plannedSeconds { out += ", \(TextFormat.fixed(s * 1000, 1)) ms bus time" }
        out += "\n  one request per point: \(naiveRequests) requests, \(naiveBytes) bytes"
        if let s = naiveSeconds { out += ", \(TextFormat.fixed(s * 1000, 1)) ms bus time" }
        out += "\n"
        return out
    }
}
