import MeterCore
import MeterIO
import MeterProtocols

/// Reads a Modbus meter described by a `DeviceProfile`: the profile's points are coalesced once
/// into as few requests as its limits allow, and each poll runs those requests through the device's bus.
public struct ModbusMeterDriver: Sendable {
    public let device: DeviceConfig
    public let bus: ModbusBus
    /// The requests of a full poll; `member.point` indexes `device.profile.points`.
    public let plan: [PlannedRead]

    /// Plans once over all the profile's points; fails if a point cannot be read at all
    /// (runs past register 65535, or is larger than one request may carry).
    public init(device: DeviceConfig, bus: ModbusBus) throws(PlanError) {
        self.device = device
        self.bus = bus
        plan = try device.profile.planner.plan(device.profile.points.map(\.span))
    }

    /// Names in `points` the profile does not define (a typo on the technician's command line).
    public func unknownPoints(_ points: [PointName]) -> [PointName] {
        points.filter { device.profile.point(named: $0) == nil }
    }

    /// Reads all points, or only `points` (names the profile does not define are ignored; see
    /// `unknownPoints`). Returns one reading per point in profile order. Never throws and never
    /// drops a point: a failed request yields its points with the failure's quality and no value.
    /// `now` stamps each reading when its reply arrived.
    public func read(points: [PointName]? = nil, now: () -> Int64) async -> [Reading] {
        let all = device.profile.points
        let selected: [Int]
        let requests: [PlannedRead]
        if let points {
            let wanted = Set(points)
            selected = all.indices.filter { wanted.contains(all[$0].name) }
            requests = Self.plan(subset: selected, of: all, planner: device.profile.planner)
        } else {
            selected = Array(all.indices)
            requests = plan
        }

        // Readings come in request order; each carries its point's index to be put back in
        // profile order at the end (no dictionary per read: a hundred reads may be in flight).
        var readings: [(point: Int, reading: Reading)] = []
        readings.reserveCapacity(selected.count)
        for request in requests {
            let outcome: Result<[UInt16], ModbusError>
            do throws(ModbusError) {
                outcome = .success(try await bus.readRegisters(unit: device.unit, table: request.table,
                                                               address: request.start, count: request.count))
            } catch {
                outcome = .failure(error)
            }
            let stamp = now()
            for member in request.members {
                let point = all[member.point]
                let value: MeterValue?
                let quality: Quality
                switch outcome {
                case let .success(words) where words.count >= member.offset + point.type.registerCount:
                    (value, quality) = point.decode(words[member.offset..<(member.offset + point.type.registerCount)])
                case .success:
                    (value, quality) = (nil, .crcError)
                case let .failure(error):
                    (value, quality) = (nil, error.quality)
                }
                readings.append((member.point, Reading(device: device.id, point: point.name, value: value, unit: point.unit,
                                                       timestampMs: stamp, quality: quality, billing: point.billing)))
            }
        }
        readings.sort { $0.point < $1.point }
        if readings.count == selected.count && readings.indices.allSatisfy({ readings[$0].point == selected[$0] }) {
            return readings.map(\.reading)
        }
        // Every selected point is in exactly one request; this only guards that invariant.
        return selected.map { index in
            readings.first { $0.point == index }?.reading
                ?? Reading(device: device.id, point: all[index].name, value: nil, unit: all[index].unit,
                           timestampMs: now(), quality: .busError, billing: all[index].billing)
        }
    }

    /// Plans the requests for some of the points, with `member.point` still indexing the whole profile.
    private static func plan(subset: [Int], of points: [PointDefinition], planner: ReadPlanner) -> [PlannedRead] {
        // Every point was checked when the full plan was made, so planning a subset cannot fail.
        guard var reads = try? planner.plan(subset.map { points[$0].span }) else { return [] }
        for r in reads.indices {
            for m in reads[r].members.indices {
                reads[r].members[m].point = subset[reads[r].members[m].point]
            }
        }
        return reads
    }
}
