import MeterCore
import MeterProtocols
import Testing
@testable import MeterStore

/// Inputs the fuzz targets (Tests/Fuzz, `make fuzz`) found to crash a decoder, kept as tests.
@Suite struct FuzzFindingsTests {
    static func series(exponent: Int64) -> KnownSeries {
        KnownSeries(ReadingSeries(device: "flat-301", point: "energy.import.total", unit: "kWh", billing: true,
                                  valueType: .decimal, exponent: exponent))
    }

    /// store-record, crash-ed012de7…: a damaged file's series row with the exponent
    /// 0xBFFF000000000000 made the reading's text a string of 2^62 zeros (an allocation of
    /// 0x4001000000000030 bytes). Such a row is an unreadable reading, like an unknown quality code.
    @Test func aDamagedSeriesExponentIsAnUnreadableReadingNotAHugeString() {
        for exponent in [Int64(bitPattern: 0xBFFF_0000_0000_0000), .min, .max, -65, 65, 1 << 40] {
            let json = ReadingRows.json(series: Self.series(exponent: exponent), seriesID: 7, value: .integer(1_234_567),
                                        qualityCode: 0, ts: 1_764_892_800_123)
            #expect(json == "{\"unreadable_reading\":{\"series\":7,\"quality\":0,\"ts\":1764892800123}}")
        }
    }

    /// The exponents an agent writes still read back as their decimals.
    @Test func theExponentsAnAgentWritesStillReadBack() {
        let json = ReadingRows.json(series: Self.series(exponent: -2), seriesID: 7, value: .integer(1_234_567),
                                    qualityCode: 0, ts: 1_764_892_800_123)
        #expect(json == Reading(device: DeviceID("flat-301"), point: PointName("energy.import.total"),
                                value: .decimal(ExactDecimal(significand: 1_234_567, exponent: -2)), unit: "kWh",
                                timestampMs: 1_764_892_800_123, quality: .good, billing: true).json)
        let widest = ReadingRows.json(series: Self.series(exponent: -64), seriesID: 7, value: .integer(5),
                                      qualityCode: 0, ts: 0)
        #expect(widest.contains("\"value\":0.0000000000000000000000000000000000000000000000000000000000000005"))
    }
}
