import MeterIO
import MeterProtocols
@testable import MeterSimulation
import Testing

@Suite struct ReplyCorruptionTests {
    let reply = ModbusCRC.appending(to: [0x01, 0x04, 0x04, 0x43, 0x66, 0x80, 0x00])

    func corrupt(_ configure: (inout DeviceFaults) -> Void, _ bytes: [UInt8], framing: ModbusFraming = .rtu) -> [UInt8] {
        var faults = DeviceFaults()
        configure(&faults)
        var random = SplitMixGenerator(seed: 9)
        return ReplyCorruption.apply(faults, to: bytes, framing: framing, random: &random)
    }

    @Test func noFaultLeavesTheReplyAlone() {
        #expect(corrupt({ _ in }, reply) == reply)
    }

    @Test func badCRCKeepsTheBodyAndBreaksTheCRC() {
        let bad = corrupt({ $0.badCRC = true }, reply)
        #expect(bad.dropLast(2) == reply.dropLast(2))
        #expect(!ModbusCRC.isValid(bad))
    }

    @Test func wrongUnitIsAValidFrameFromAnotherUnit() {
        let wrong = corrupt({ $0.wrongUnit = true }, reply)
        #expect(wrong[0] == 2)
        #expect(wrong[1...].dropLast(2) == reply[1...].dropLast(2))
        #expect(ModbusCRC.isValid(wrong))
    }

    @Test func garbageComesBeforeTheFrame() {
        let noisy = corrupt({ $0.garbage = true }, reply)
        #expect(noisy.count > reply.count && noisy.count <= reply.count + 8)
        #expect(Array(noisy.suffix(reply.count)) == reply)
    }

    @Test func tcpFaultsTouchTheHeader() {
        let tcp: [UInt8] = [0x00, 0x07, 0x00, 0x00, 0x00, 0x07, 0x01, 0x04, 0x04, 0x43, 0x66, 0x80, 0x00]
        #expect(corrupt({ $0.wrongUnit = true }, tcp, framing: .tcp)[6] == 2)
        let bad = corrupt({ $0.badCRC = true }, tcp, framing: .tcp)
        #expect(bad[0...1] != tcp[0...1])
        #expect(bad[2...] == tcp[2...])
    }

    @Test func faultsParseFromText() throws {
        var faults = DeviceFaults()
        try faults.set("delay_ms", to: "800")
        try faults.set("exception", to: "4")
        try faults.set("no_reply", to: "on")
        #expect(faults.delayMs == 800 && faults.exception == 4 && faults.noReply)
        #expect(faults.description == "no_reply delay_ms=800 exception=4")
        #expect(throws: DeviceFaults.SetError.self) { try faults.set("exception", to: "99") }
        #expect(throws: DeviceFaults.SetError.self) { try faults.set("melt", to: "on") }
    }
}
