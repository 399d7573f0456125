import MeterCore
import MeterProtocols

/// What one poll cycle costs on a DL/T 645 line — one read (0x11, or 0x01 for 1997) per data
/// point, as the driver does it — for `meteragent plan`.
public struct DLT645PlanReport: Sendable {
    public var bus: BusConfig
    public var devices: [DeviceConfig]

    public init(bus: BusConfig, devices: [DeviceConfig]) {
        self.bus = bus
        self.devices = devices
    }

    /// Request and reply bytes of reading one point: 4 preamble bytes each way, 12 of frame,
    /// the DI, and the item's bytes in the reply.
    public static func bytes(_ point: DataPointDefinition) -> (request: Int, reply: Int) {
        (4 + DLT645Frame.overhead + point.diBytes, 4 + DLT645Frame.overhead + point.diBytes + point.format.byteCount)
    }

    public var requests: Int { devices.reduce(0) { $0 + $1.profile.dataPoints.count } }

    public var totalBytes: Int {
        devices.flatMap(\.profile.dataPoints).reduce(0) { let b = Self.bytes($1); return $0 + b.request + b.reply }
    }

    /// Least bus time of a cycle on a serial line: both frames and the bus's inter-frame silence
    /// (3.5 characters, at least 5 ms) after each; nil over TCP.
    public var seconds: Double? {
        guard case let .serial(_, settings, _) = bus.transport else { return nil }
        let silence = max(0.005, settings.framing.interFrameSilence)
        return Double(totalBytes) * settings.framing.seconds(forBytes: 1) + Double(requests) * 2 * silence
    }

    public var text: String {
        let name = bus.protocolName == .dlt645_1997 ? "DL/T 645-1997" : "DL/T 645-2007"
        var out = switch bus.transport {
        case let .serial(port, settings, _): "bus \(bus.id): serial \(port) \(settings.summary), \(name)\n"
        case let .tcp(host, port): "bus \(bus.id): tcp \(host):\(port), \(name) over TCP\n"
        }
        for device in devices {
            let points = device.profile.dataPoints
            out += "  device \(device.id) address \(device.address ?? "?") (\(device.profile.name)): \(points.count) points in \(points.count) requests\n"
            out += TextFormat.table(points.map { p in
                let b = Self.bytes(p)
                return ["    read DI \(p.diText)", p.format.description, "\(b.request)+\(b.reply) bytes", p.name.rawValue]
            })
        }
        out += "  per cycle: \(requests) requests, \(totalBytes) bytes on the wire"
        if let s = seconds { out += ", \(TextFormat.fixed(s * 1000, 1)) ms bus time" }
        return out + "\n"
    }
}
