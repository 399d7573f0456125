/// One point the planner must cover: where it lives and how many registers (or bits) it spans.
public struct PointSpan: Sendable, Hashable {
    public var table: RegisterTable
    public var address: UInt16
    public var count: Int

    public init(table: RegisterTable, address: UInt16, count: Int) {
        self.table = table
        self.address = address
        self.count = count
    }

    public var end: Int { Int(address) + count }
}

/// One read request of a poll cycle and the points it answers.
public struct PlannedRead: Sendable, Hashable {
    public var table: RegisterTable
    public var start: UInt16
    public var count: Int
    /// Indices into the planner's input, each with its offset (in registers or bits) from `start`.
    public var members: [Member]

    public init(table: RegisterTable, start: UInt16, count: Int, members: [Member]) {
        self.table = table
        self.start = start
        self.count = count
        self.members = members
    }

    public struct Member: Sendable, Hashable {
        public var point: Int
        public var offset: Int

        public init(point: Int, offset: Int) {
            self.point = point
            self.offset = offset
        }
    }
}

public enum PlanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A point runs past register 65535.
    case beyondAddressSpace(point: Int, address: UInt16, count: Int)
    /// A point is larger than one request may carry.
    case tooLarge(point: Int, count: Int, limit: Int)

    public var description: String {
        switch self {
        case let .beyondAddressSpace(_, address, count): "address \(address) + \(count) runs past 65535"
        case let .tooLarge(_, count, limit): "\(count) registers do not fit one request of at most \(limit)"
        }
    }
}

/// Coalesces the points of one device into as few reads as the limits allow.
///
/// Points in the same table are merged when the hole between them is at most `maxGap` registers
/// (reading a few unused registers is cheaper than a second request), and a request never exceeds
/// `maxRegisters` (≤125) or `maxBits` (≤2000).
public struct ReadPlanner: Sendable {
    public var maxRegisters: Int
    public var maxBits: Int
    public var maxGap: Int

    public init(maxRegisters: Int = ModbusLimits.maxReadRegisters, maxBits: Int = ModbusLimits.maxReadBits, maxGap: Int = 10) {
        self.maxRegisters = min(max(1, maxRegisters), ModbusLimits.maxReadRegisters)
        self.maxBits = min(max(1, maxBits), ModbusLimits.maxReadBits)
        self.maxGap = max(0, maxGap)
    }

    public func plan(_ points: [PointSpan]) throws(PlanError) -> [PlannedRead] {
        for (i, p) in points.enumerated() {
            let limit = p.table.isBitTable ? maxBits : maxRegisters
            if p.end > ModbusLimits.addressSpace { throw .beyondAddressSpace(point: i, address: p.address, count: p.count) }
            if p.count > limit { throw .tooLarge(point: i, count: p.count, limit: limit) }
        }
        var reads: [PlannedRead] = []
        for table in RegisterTable.allCases {
            let limit = table.isBitTable ? maxBits : maxRegisters
            let sorted = points.indices
                .filter { points[$0].table == table }
                .sorted { (points[$0].address, points[$0].count) < (points[$1].address, points[$1].count) }
            var current: PlannedRead?
            for i in sorted {
                let p = points[i]
                if var open = current {
                    let openEnd = Int(open.start) + open.count
                    let newEnd = max(openEnd, p.end)
                    if Int(p.address) - openEnd <= maxGap, newEnd - Int(open.start) <= limit {
                        open.count = newEnd - Int(open.start)
                        open.members.append(.init(point: i, offset: Int(p.address) - Int(open.start)))
                        current = open
                        continue
                    }
                    reads.append(open)
                }
                current = PlannedRead(table: table, start: p.address, count: p.count, members: [.init(point: i, offset: 0)])
            }
            if let open = current { reads.append(open) }
        }
        return reads
    }
}
