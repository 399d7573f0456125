import Testing
import MeterProtocols

@Suite struct ReadPlannerTests {
    func span(_ table: RegisterTable, _ address: UInt16, _ count: Int) -> PointSpan {
        PointSpan(table: table, address: address, count: count)
    }

    func summary(_ reads: [PlannedRead]) -> [String] {
        reads.map { r in "\(r.table.rawValue) \(r.start)+\(r.count) " + r.members.map { "\($0.point)@\($0.offset)" }.joined(separator: ",") }
    }

    @Test func coalescesWithinTheGap() throws {
        let points = [span(.input, 12, 2), span(.input, 0, 2), span(.input, 6, 2)]
        let reads = try ReadPlanner(maxGap: 10).plan(points)
        #expect(summary(reads) == ["input 0+14 1@0,2@6,0@12"])
    }

    @Test func splitsWhenTheHoleIsTooWide() throws {
        // SDM120: the energy block at 0x48 is 38 registers past the power-factor register.
        let points = [0x00, 0x06, 0x0C, 0x12, 0x18, 0x1E, 0x46, 0x48, 0x4A, 0x156].map { span(.input, UInt16($0), 2) }
        let reads = try ReadPlanner(maxRegisters: 40, maxGap: 10).plan(points)
        #expect(summary(reads) == [
            "input 0+32 0@0,1@6,2@12,3@18,4@24,5@30",
            "input 70+6 6@0,7@2,8@4",
            "input 342+2 9@0",
        ])
    }

    @Test func gapZeroMergesOnlyAdjacentPoints() throws {
        let planner = ReadPlanner(maxGap: 0)
        #expect(summary(try planner.plan([span(.holding, 0, 2), span(.holding, 2, 2)])) == ["holding 0+4 0@0,1@2"])
        #expect(summary(try planner.plan([span(.holding, 0, 2), span(.holding, 3, 2)])) == ["holding 0+2 0@0", "holding 3+2 1@0"])
    }

    @Test func splitsAt125Registers() throws {
        let points = stride(from: 0, through: 128, by: 2).map { span(.holding, UInt16($0), 2) }
        let reads = try ReadPlanner(maxGap: 10).plan(points)
        #expect(reads.map(\.count) == [124, 6])
        #expect(reads.map(\.start) == [0, 124])
        #expect(reads.allSatisfy { $0.count <= ModbusLimits.maxReadRegisters })
        #expect(reads.flatMap(\.members).count == points.count)
        // A planner asked for more than the protocol allows is clamped to 125.
        #expect(ReadPlanner(maxRegisters: 500).maxRegisters == 125)
    }

    @Test func splitsAtMaxRegistersPerRead() throws {
        let points = stride(from: 0, to: 100, by: 2).map { span(.input, UInt16($0), 2) }
        let reads = try ReadPlanner(maxRegisters: 40, maxGap: 10).plan(points)
        #expect(reads.map(\.count) == [40, 40, 20])
        #expect(reads.map(\.start) == [0, 40, 80])
    }

    @Test func bitTablesAllow2000Bits() throws {
        let planner = ReadPlanner(maxGap: 5000)
        let one = try planner.plan([span(.coil, 0, 1), span(.coil, 1999, 1)])
        #expect(summary(one) == ["coil 0+2000 0@0,1@1999"])
        let two = try planner.plan([span(.coil, 0, 1), span(.coil, 2000, 1)])
        #expect(summary(two) == ["coil 0+1 0@0", "coil 2000+1 1@0"])
    }

    @Test func tablesAreNeverMixed() throws {
        let points = [span(.input, 0, 2), span(.holding, 0, 2), span(.coil, 0, 1), span(.discrete, 0, 1), span(.holding, 2, 1)]
        let reads = try ReadPlanner().plan(points)
        #expect(summary(reads) == ["holding 0+3 1@0,4@2", "input 0+2 0@0", "coil 0+1 2@0", "discrete 0+1 3@0"])
        #expect(reads.map { $0.table.readFunction } == [0x03, 0x04, 0x01, 0x02])
    }

    @Test func overlappingAndDuplicatePointsShareARead() throws {
        // An f64 at 0 and an f32 view of its low half at 2; the same point listed twice.
        let reads = try ReadPlanner(maxGap: 0).plan([span(.holding, 0, 4), span(.holding, 2, 2), span(.holding, 0, 4)])
        #expect(reads.count == 1)
        #expect(reads[0].start == 0 && reads[0].count == 4)
        #expect(Set(reads[0].members.map { "\($0.point)@\($0.offset)" }) == ["0@0", "1@2", "2@0"])
        // A point inside a longer one does not shorten the read.
        let nested = try ReadPlanner(maxGap: 0).plan([span(.input, 0, 4), span(.input, 1, 1)])
        #expect(summary(nested) == ["input 0+4 0@0,1@1"])
    }

    @Test func addressWrapIsAnError() throws {
        #expect(throws: PlanError.beyondAddressSpace(point: 1, address: 65535, count: 2)) {
            try ReadPlanner().plan([self.span(.holding, 0, 1), self.span(.holding, 65535, 2)])
        }
        #expect(PlanError.beyondAddressSpace(point: 0, address: 65535, count: 2).description == "address 65535 + 2 runs past 65535")
        // The last register itself is fine.
        #expect(summary(try ReadPlanner().plan([span(.holding, 65534, 2)])) == ["holding 65534+2 0@0"])
    }

    @Test func oversizedPointIsAnError() {
        #expect(throws: PlanError.tooLarge(point: 0, count: 4, limit: 2)) {
            try ReadPlanner(maxRegisters: 2).plan([self.span(.input, 0, 4)])
        }
    }

    @Test func emptyInputPlansNothing() throws {
        #expect(try ReadPlanner().plan([]).isEmpty)
    }
}
