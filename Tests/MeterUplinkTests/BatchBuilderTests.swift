import Foundation
import Testing
@testable import MeterUplink

struct BatchBuilderTests {
    func reading(_ seq: UInt64, value: String = "12345.67") -> UplinkRecord {
        UplinkRecord(seq: seq, kind: .reading,
                     payload: "{\"device\":\"flat-301\",\"point\":\"energy.import.total\",\"value\":\(value),\"unit\":\"kWh\",\"ts\":1764052800000,\"quality\":\"good\",\"billing\":true}")
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test func sequenceNumberBecomesTheFirstMember() {
        #expect(BatchBuilder.withSequence("{\"a\":1}", seq: 7) == "{\"seq\":7,\"a\":1}")
        #expect(BatchBuilder.withSequence("  {  \"a\":1}\n", seq: 7) == "{\"seq\":7,  \"a\":1}\n")
        #expect(BatchBuilder.withSequence("{}", seq: 18_446_744_073_709_551_615) == "{\"seq\":18446744073709551615}")
        #expect(BatchBuilder.withSequence("{ }", seq: 1) == "{\"seq\":1}")
    }

    @Test func aDamagedPayloadTravelsAsAStringInsteadOfBreakingTheBatch() throws {
        let item = BatchBuilder.withSequence("not json \"quoted\"\n", seq: 3)
        let object = try json(item)
        #expect(object["seq"] as? Int == 3)
        #expect(object["raw"] as? String == "not json \"quoted\"\n")
    }

    @Test func oneBatchCarriesGatewaySequenceRangeAndRecordsInOrder() throws {
        let builder = BatchBuilder(gateway: "gw-1", maxBytes: 16_384)
        let batches = builder.batches((41...43).map { reading($0) })
        #expect(batches.count == 1)
        let batch = try #require(batches.first)
        #expect(batch.kind == .reading)
        #expect(batch.seqs == [41, 42, 43])
        #expect(batch.firstSeq == 41 && batch.lastSeq == 43)
        let object = try json(batch.payload)
        #expect(object["gateway"] as? String == "gw-1")
        #expect(object["first_seq"] as? Int == 41)
        #expect(object["last_seq"] as? Int == 43)
        let items = try #require(object["readings"] as? [[String: Any]])
        #expect(items.map { $0["seq"] as? Int } == [41, 42, 43])
        #expect(batch.payload.hasPrefix("{\"gateway\":\"gw-1\",\"first_seq\":41,\"last_seq\":43,\"readings\":[{\"seq\":41,\"device\":"))
    }

    @Test func billingDecimalsKeepTheirDigitsExactly() {
        let builder = BatchBuilder(gateway: "gw", maxBytes: 16_384)
        let batch = builder.batches([reading(1, value: "12345.670"), reading(2, value: "0.10000000000000000001")])[0]
        #expect(batch.payload.contains("\"value\":12345.670,"))
        #expect(batch.payload.contains("\"value\":0.10000000000000000001,"))
    }

    @Test func kindsAreNeverMixedAndOrderIsKept() throws {
        let records = [
            reading(1), reading(2),
            UplinkRecord(seq: 3, kind: .event, payload: "{\"type\":\"leak\"}"),
            reading(4),
            UplinkRecord(seq: 5, kind: .commandResult, payload: "{\"id\":\"c1\",\"ok\":true}"),
            UplinkRecord(seq: 6, kind: .commandResult, payload: "{\"id\":\"c2\",\"ok\":false}"),
        ]
        let batches = BatchBuilder(gateway: "gw", maxBytes: 16_384).batches(records)
        #expect(batches.map(\.kind) == [.reading, .event, .reading, .commandResult])
        #expect(batches.map(\.seqs) == [[1, 2], [3], [4], [5, 6]])
        #expect(try json(batches[1].payload)["events"] is [Any])
        #expect(try json(batches[3].payload)["results"] is [Any])
        #expect(UplinkTopics(prefix: "meteragent/gw").topic(for: batches[3].kind) == "meteragent/gw/cmd/result")
    }

    @Test func everyBatchStaysWithinTheByteBoundAndNothingIsLostOrRepeated() throws {
        for maxBytes in [1024, 1500, 4096, 16_384] {
            let records = (1...500).map { seq in reading(UInt64(seq) * 7, value: String(repeating: "9", count: Int(seq % 40) + 1)) }
            let batches = BatchBuilder(gateway: "gw-bound", maxBytes: maxBytes).batches(records)
            #expect(batches.count > 1)
            for batch in batches {
                #expect(batch.payload.utf8.count <= maxBytes, "\(batch.payload.utf8.count) > \(maxBytes)")
                let items = try #require(try json(batch.payload)["readings"] as? [[String: Any]])
                #expect(items.compactMap { $0["seq"] as? Int }.map(UInt64.init) == batch.seqs)
            }
            #expect(batches.flatMap(\.seqs) == records.map(\.seq))
            // Bins are full: the next record would not have fit.
            for (batch, next) in zip(batches, batches.dropFirst()) {
                let merged = BatchBuilder(gateway: "gw-bound", maxBytes: Int.max)
                    .batches(records.filter { batch.seqs.contains($0.seq) || $0.seq == next.firstSeq })[0]
                #expect(merged.payload.utf8.count > maxBytes)
            }
        }
    }

    @Test func aRecordLargerThanTheBoundGoesAloneRatherThanNever() {
        let big = UplinkRecord(seq: 2, kind: .event, payload: "{\"blob\":\"" + String(repeating: "x", count: 3000) + "\"}")
        let batches = BatchBuilder(gateway: "gw", maxBytes: 1024).batches([
            UplinkRecord(seq: 1, kind: .event, payload: "{}"), big, UplinkRecord(seq: 3, kind: .event, payload: "{}"),
        ])
        #expect(batches.map(\.seqs) == [[1], [2], [3]])
    }

    @Test func emptyInputGivesNoBatches() {
        #expect(BatchBuilder(gateway: "gw", maxBytes: 1024).batches([]).isEmpty)
    }

    @Test func gatewayNameIsEscaped() throws {
        let batch = BatchBuilder(gateway: "a\"b\\c", maxBytes: 1024).batches([reading(1)])[0]
        #expect(try json(batch.payload)["gateway"] as? String == "a\"b\\c")
    }

    @Test func statusPayloadsAreJSON() throws {
        let online = try json(StatusMessage.online(version: "0.1.0", sinceMs: 1764052800000))
        #expect(online["state"] as? String == "online")
        #expect(online["version"] as? String == "0.1.0")
        #expect(online["since"] as? Int == 1764052800000)
        #expect(try json(StatusMessage.lastWill(version: "0.1.0", connectedMs: 5))["state"] as? String == "offline")
        #expect(try json(StatusMessage.offline(version: "0.1.0", sinceMs: 5))["reason"] as? String == "shutdown")
    }
}
