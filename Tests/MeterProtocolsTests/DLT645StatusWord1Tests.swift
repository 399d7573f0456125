import MeterProtocols
import Testing

/// Status word 1 (04000501): the batteries a meter reports, low byte first on the wire.
@Suite struct DLT645StatusWord1Tests {
    @Test func batteryBitsAndWireOrder() {
        var word = DLT645StatusWord1(rawValue: 0)
        word.clockBatteryLow = true
        #expect(word.payload == [0x04, 0x00])
        word.readingBatteryLow = true
        #expect(word.payload == [0x0C, 0x00])
        word.clockBatteryLow = false
        word.activePowerReversed = true
        #expect(word.rawValue == 0x0018 && word.readingBatteryLow && !word.clockBatteryLow)
        #expect(DLT645DataID.statusWord1.wire == [0x01, 0x05, 0x00, 0x04], "DI0 first")
        #expect(DLT645DataID.coverOpenCount.description == "03300D00")
    }
}
