import Foundation
import MeterCore
import MeterIO
import MeterProtocols
@testable import MeterSimulation
import Testing

/// The simulated PN532 byte for byte over its pty, as UM0701-02 describes the chip: wake-up, ACK,
/// replies, NACK, error frame, silence for a bad checksum, and the cards of the control channel.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct PN532ReaderServerTests {
    static let firmware = PN532Frame.reply(to: PN532Command.getFirmwareVersion, [0x32, 0x01, 0x06, 0x07])

    /// A started reader and a host port on its pty.
    final class Host {
        let server: PN532ReaderServer
        let port: SerialPort
        var decoder = PN532StreamDecoder()

        init() throws {
            server = try PN532ReaderServer(id: "nfc")
            try server.start()
            port = try SerialPort(port: server.slavePath!, settings: SerialSettings(baud: 115_200))
        }

        deinit { server.stop() }

        /// Writes `bytes` and collects `count` messages (or what came within `timeoutMs`).
        func exchange(_ bytes: [UInt8], expecting count: Int, timeoutMs: Int = 1000) throws -> [PN532Message] {
            try port.write(bytes)
            var messages: [PN532Message] = []
            let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
            while messages.count < count, Date() < deadline {
                decoder.append(try port.read(maxBytes: 512, timeoutMs: 50))
                while let message = decoder.next() { messages.append(message) }
            }
            return messages
        }

        func command(_ code: UInt8, _ parameters: [UInt8] = []) throws -> [PN532Message] {
            try exchange(PN532Frame.command(code, parameters).encoded(), expecting: 2)
        }
    }

    @Test func wakeUpThenFirmwareVersion() throws {
        let host = try Host()
        let messages = try host.exchange(PN532Frame.wakeUp + PN532Frame.command(PN532Command.getFirmwareVersion).encoded(), expecting: 2)
        #expect(messages == [.ack, .frame(Self.firmware)])
        // nfcpy's wake-up: ten 00 bytes before the frame.
        let again = try host.exchange([UInt8](repeating: 0, count: 10) + PN532Frame.command(PN532Command.getFirmwareVersion).encoded(), expecting: 2)
        #expect(again == [.ack, .frame(Self.firmware)])
    }

    @Test func nackResendsTheLastReplyAndACorruptedReplyFailsItsChecksum() throws {
        let host = try Host()
        host.server.corruptNextFrame()
        #expect(try host.command(PN532Command.getFirmwareVersion) == [.ack, .checksumError])
        #expect(try host.exchange(PN532Frame.nack, expecting: 1) == [.frame(Self.firmware)])
    }

    @Test func badChecksumGetsNoAnswerUnknownCommandGetsTheErrorFrame() throws {
        let host = try Host()
        var bad = PN532Frame.command(PN532Command.getFirmwareVersion).encoded()
        bad[bad.count - 2] ^= 0x01
        #expect(try host.exchange(bad, expecting: 1, timeoutMs: 300).isEmpty)
        #expect(try host.command(0x8C, [0x00]) == [.ack, .applicationError])
        #expect(try host.command(0x00, [0x00, 0x6C, 0x69, 0x62]) == [.ack, .frame(.reply(to: 0x00, [0x00, 0x6C, 0x69, 0x62]))])
        #expect(host.server.statistics.checksumErrors == 1)
    }

    @Test func listsTheCardInTheFieldWithItsATQAAndSAK() throws {
        let host = try Host()
        // Single-try selection, as libnfc and nfcpy set it: an empty field answers at once.
        #expect(try host.command(PN532Command.rfConfiguration, [0x05, 0xFF, 0x01, 0x00]) == [.ack, .frame(.reply(to: 0x32))])
        #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x00]) == [.ack, .frame(.reply(to: 0x4A, [0x00]))])
        #expect(try host.command(PN532Command.readRegister, [0x63, 0x39]) == [.ack, .frame(.reply(to: 0x06, [0x26]))])
        let cases: [([UInt8], [UInt8], UInt8)] = [
            ([0xDE, 0xAD, 0xBE, 0xEF], [0x00, 0x04], 0x08),
            ([0x04, 0x52, 0x8A, 0x1A, 0x3C, 0x5D, 0x80], [0x00, 0x44], 0x00),
            ([0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99], [0x00, 0x84], 0x00),
        ]
        for (uid, atqa, sak) in cases {
            #expect(host.server.present(uid, seconds: nil) == nil)
            let expected = PN532Frame.reply(to: 0x4A, [0x01, 0x01] + atqa + [sak, UInt8(uid.count)] + uid)
            #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x00]) == [.ack, .frame(expected)])
            // Type B at 106 kbps finds nothing: only type A cards are simulated.
            #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x03, 0x00]) == [.ack, .frame(.reply(to: 0x4A, [0x00]))])
        }
        #expect(host.server.present([1, 2, 3, 4, 5], seconds: nil) != nil)
        host.server.removeCard()
        #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x00]) == [.ack, .frame(.reply(to: 0x4A, [0x00]))])
    }

    @Test func endlessSelectionWaitsForACardOrAnAbort() throws {
        let host = try Host()
        // Chip default: MxRtyPassiveActivation FF, the command waits until a card comes.
        #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x00]) == [.ack])
        _ = host.server.present([0x01, 0x02, 0x03, 0x04], seconds: nil)
        #expect(try host.exchange([], expecting: 1) == [.frame(.reply(to: 0x4A, [0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0x01, 0x02, 0x03, 0x04]))])
        host.server.removeCard()
        #expect(try host.command(PN532Command.inListPassiveTarget, [0x01, 0x00]) == [.ack])
        // The host's ACK aborts it; the next command is answered as usual.
        #expect(try host.exchange(PN532Frame.ack, expecting: 1, timeoutMs: 200).isEmpty)
        #expect(try host.command(PN532Command.getFirmwareVersion) == [.ack, .frame(Self.firmware)])
    }

    @Test func inAutoPollReportsTheCardOrNoTargetAfterItsPolls() throws {
        let host = try Host()
        // PollNr 2 × Period 1 (150 ms) × one type: no card, "no target" after about 0.3 s.
        let started = Date()
        #expect(try host.command(PN532Command.inAutoPoll, [0x02, 0x01, 0x10]) == [.ack, .frame(.reply(to: 0x60, [0x00]))])
        #expect(Date().timeIntervalSince(started) >= 0.25)
        _ = host.server.present([0x04, 0x52, 0x8A, 0x1A, 0x3C, 0x5D, 0x80], seconds: nil)
        let target: [UInt8] = [0x01, 0x00, 0x44, 0x00, 0x07, 0x04, 0x52, 0x8A, 0x1A, 0x3C, 0x5D, 0x80]
        #expect(try host.command(PN532Command.inAutoPoll, [0xFF, 0x01, 0x10]) == [.ack, .frame(.reply(to: 0x60, [0x01, 0x10, UInt8(target.count)] + target))])
    }

    @Test func unplugClosesThePtyAndPlugInOpensANewOne() throws {
        let host = try Host()
        #expect(host.server.slavePath != nil)
        host.server.unplug()
        Thread.sleep(forTimeInterval: 0.2)
        #expect(host.server.slavePath == nil)
        #expect(throws: SerialPortError.self) { _ = try host.port.read(maxBytes: 16, timeoutMs: 200); _ = try host.port.read(maxBytes: 16, timeoutMs: 200) }
        let path = try host.server.plugIn()
        let port = try SerialPort(port: path, settings: SerialSettings(baud: 115_200))
        try port.write(PN532Frame.command(PN532Command.getFirmwareVersion).encoded())
        var decoder = PN532StreamDecoder()
        var messages: [PN532Message] = []
        let deadline = Date().addingTimeInterval(1)
        while messages.count < 2, Date() < deadline {
            decoder.append(try port.read(maxBytes: 64, timeoutMs: 50))
            while let m = decoder.next() { messages.append(m) }
        }
        #expect(messages == [.ack, .frame(Self.firmware)])
    }
}
