import MeterProtocols

/// An ISO 14443-A card in the simulated reader's field, with the anticollision answers a real
/// card of its UID size gives (ATQA's bits 7–8 carry the UID size).
public struct SimulatedNFCCard: Sendable, Hashable {
    public let uid: [UInt8]
    /// SENS_RES as the PN532 reports it, most significant byte first.
    public let atqa: [UInt8]
    public let sak: UInt8

    /// nil for a UID length ISO 14443-3 does not have.
    public init?(uid: [UInt8]) {
        switch uid.count {
        case 4: atqa = [0x00, 0x04]; sak = 0x08     // MIFARE Classic 1K
        case 7: atqa = [0x00, 0x44]; sak = 0x00     // MIFARE Ultralight / NTAG
        case 10: atqa = [0x00, 0x84]; sak = 0x00    // triple-size UID, Type 2 platform
        default: return nil
        }
        self.uid = uid
    }

    /// Target data of InListPassiveTarget and InAutoPoll: Tg, SENS_RES, SEL_RES, NFCIDLength, NFCID1.
    func targetData(number: UInt8) -> [UInt8] {
        [number] + atqa + [sak, UInt8(uid.count)] + uid
    }

    /// True if `initiatorData` (a UID with cascade tags `88`, as hosts send it) selects this card.
    func matches(initiatorData: ArraySlice<UInt8>) -> Bool {
        let data = Array(initiatorData)
        if data.isEmpty { return true }
        var plain = data
        if data.count == 8, data[0] == 0x88 { plain = Array(data[1...]) }
        if data.count == 12, data[0] == 0x88, data[4] == 0x88 { plain = Array(data[1..<4] + data[5...]) }
        return plain == uid
    }
}

/// The PN532's command interpreter as UM0701-02 describes it, without the wire: a command
/// frame in, what the chip answers out. What libnfc's pn532_uart and nfcpy's pn532 drivers send
/// while they initialise and poll is answered as the chip does; what the simulation does not model
/// (target mode, RF tests) gets the chip's error frame, as an unknown command does.
struct PN532Chip {
    /// What the chip does after it has ACKed a command.
    enum Outcome: Equatable {
        case reply(PN532Frame)
        /// The syntax-error frame (`00 00 FF 01 FF 7F 81 00`).
        case errorFrame
        /// The command waits for a card (InListPassiveTarget with endless retries, InAutoPoll):
        /// answer it with `answerWaiting` when a card comes, or with no target at `deadline`
        /// (seconds from now; nil: until the host aborts it with an ACK).
        case waitForCard(deadline: Double?)
        /// Nothing beyond the ACK (Diagnose echo-back test).
        case silent
    }

    static let firmware: [UInt8] = [0x32, 0x01, 0x06, 0x07]
    /// CIU registers whose reset value is not 00 (the PN512's reset values: the PN532's CIU is a PN512).
    static let resetRegisters: [UInt16: UInt8] = [
        0x6301: 0x3F, 0x6304: 0x80, 0x6306: 0x84, 0x6307: 0x84, 0x6308: 0x4D, 0x6327: 0x80,
    ]
    static let fifoData: UInt16 = 0x6339

    private(set) var registers = resetRegisters
    /// MxRtyPassiveActivation (RFConfiguration item 5): FF retries forever.
    private(set) var passiveRetries: UInt8 = 0xFF
    private(set) var samMode: UInt8 = 0x01
    private(set) var parameters: UInt8 = 0x00
    private(set) var poweredDown = false
    /// A target listed and not yet released or deselected.
    private(set) var activeTarget = false
    private(set) var waiting: PN532Frame?

    /// A frame from the host wakes the chip from PowerDown (HSU wake-up).
    mutating func wake() { poweredDown = false }

    /// The host aborted the running command with an ACK.
    mutating func abort() { waiting = nil }

    mutating func execute(_ command: PN532Frame, card: SimulatedNFCCard?) -> Outcome {
        waiting = nil
        guard command.tfi == PN532Frame.hostToChip, let code = command.code else { return .errorFrame }
        let data = Array(command.data)
        switch code {
        case PN532Command.diagnose: return diagnose(data)
        case PN532Command.getFirmwareVersion: return reply(code, Self.firmware)
        case PN532Command.getGeneralStatus:
            let target: [UInt8] = activeTarget && card != nil ? [0x01, 0x01, 0x00, 0x00, 0x10] : [0x00]
            return reply(code, [0x00, activeTarget ? 0x01 : 0x00] + target + [0x00])
        case PN532Command.readRegister:
            guard !data.isEmpty, data.count % 2 == 0 else { return .errorFrame }
            let values = stride(from: 0, to: data.count, by: 2).map { registers[UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]), default: 0] }
            return reply(code, values)
        case PN532Command.writeRegister:
            guard !data.isEmpty, data.count % 3 == 0 else { return .errorFrame }
            for i in stride(from: 0, to: data.count, by: 3) {
                registers[UInt16(data[i]) << 8 | UInt16(data[i + 1])] = data[i + 2]
            }
            return reply(code)
        case PN532Command.readGPIO: return reply(code, [0xBF, 0x03, 0x00])
        case PN532Command.writeGPIO, PN532Command.setSerialBaudRate: return reply(code)
        case PN532Command.setParameters:
            guard data.count == 1 else { return .errorFrame }
            parameters = data[0]
            return reply(code)
        case PN532Command.samConfiguration:
            guard let mode = data.first, (1...4).contains(mode) else { return .errorFrame }
            samMode = mode
            return reply(code)
        case PN532Command.powerDown:
            guard !data.isEmpty else { return .errorFrame }
            poweredDown = true
            activeTarget = false
            return reply(code, [0x00])
        case PN532Command.rfConfiguration:
            guard let item = data.first else { return .errorFrame }
            if item == 0x05 {
                guard data.count == 4 else { return .errorFrame }
                passiveRetries = data[3]
            }
            return reply(code)
        case PN532Command.inListPassiveTarget:
            guard data.count >= 2, (1...2).contains(data[0]), data[1] <= 0x04 else { return .errorFrame }
            if let answer = listedTarget(data, card: card) { return answer }
            waiting = command
            return .waitForCard(deadline: nil)
        case PN532Command.inAutoPoll:
            guard data.count >= 3, data[0] >= 1, data[1] >= 1 else { return .errorFrame }
            if let answer = polledTarget(data, card: card) { return answer }
            waiting = command
            if data[0] == 0xFF { return .waitForCard(deadline: nil) }
            // PollNr × Period × 150 ms per type (UM0701-02, InAutoPoll), shortened: a simulation
            // need not keep its host waiting minutes.
            return .waitForCard(deadline: min(2.0, Double(data[0]) * Double(data[1]) * 0.15 * Double(data.count - 2)))
        case PN532Command.inRelease, PN532Command.inDeselect:
            activeTarget = false
            return reply(code, [0x00])
        case PN532Command.inSelect:
            return reply(code, [activeTarget && card != nil ? 0x00 : 0x27])
        case PN532Command.inDataExchange, PN532Command.inCommunicateThru, PN532Command.inATR,
             PN532Command.inPSL, PN532Command.inJumpForDEP, PN532Command.inJumpForPSL:
            // No card memory and no DEP peer is simulated: the target does not answer (status 01).
            return reply(code, [0x01])
        default:
            return .errorFrame
        }
    }

    /// The answer to the waiting command now that the field holds `card`, or nil if it still waits.
    /// At the deadline (`timedOut`) it answers with no target.
    mutating func answerWaiting(card: SimulatedNFCCard?, timedOut: Bool) -> PN532Frame? {
        guard let command = waiting, let code = command.code else { return nil }
        let data = Array(command.data)
        let outcome = code == PN532Command.inListPassiveTarget ? listedTarget(data, card: card) : polledTarget(data, card: card)
        if case let .reply(frame)? = outcome {
            waiting = nil
            return frame
        }
        guard timedOut else { return nil }
        waiting = nil
        return .reply(to: code, [0x00])
    }

    /// InListPassiveTarget's reply if a card answers, or nil. Only 106 kbps type A (BrTy 0) has
    /// cards in this simulation; the SENS_REQ left in the CIU FIFO is how nfcpy tells "no card".
    private mutating func listedTarget(_ data: [UInt8], card: SimulatedNFCCard?) -> Outcome? {
        if data[1] == 0x00, let card, card.matches(initiatorData: data[2...]) {
            activeTarget = true
            registers[Self.fifoData] = 0x00
            return reply(PN532Command.inListPassiveTarget, [0x01] + card.targetData(number: 0x01))
        }
        if data[1] == 0x00 { registers[Self.fifoData] = 0x26 }
        if passiveRetries == 0xFF { return nil }
        return reply(PN532Command.inListPassiveTarget, [0x00])
    }

    /// InAutoPoll's reply if a card answers one of the polled types, or nil.
    /// Types 00 (generic 106 kbps A) and 10 (MIFARE) find any card here.
    private mutating func polledTarget(_ data: [UInt8], card: SimulatedNFCCard?) -> Outcome? {
        guard let card, let type = data.dropFirst(2).first(where: { $0 == 0x00 || $0 == 0x10 }) else { return nil }
        activeTarget = true
        let target = card.targetData(number: 0x01)
        return reply(PN532Command.inAutoPoll, [0x01, type, UInt8(target.count)] + target)
    }

    private func diagnose(_ data: [UInt8]) -> Outcome {
        guard let test = data.first else { return .errorFrame }
        switch test {
        case 0x00: return reply(PN532Command.diagnose, data)        // communication line test: echo
        case 0x01, 0x02, 0x07: return reply(PN532Command.diagnose, [0x00])  // ROM, RAM, antenna: OK
        case 0x04: return reply(PN532Command.diagnose, [0x00])      // polling test: no failures
        case 0x05: return .silent                                   // echo-back mode: no reply
        case 0x06: return reply(PN532Command.diagnose, [activeTarget ? 0x00 : 0x01])
        default: return .errorFrame
        }
    }

    private func reply(_ code: UInt8, _ data: [UInt8] = []) -> Outcome {
        .reply(.reply(to: code, data))
    }
}
