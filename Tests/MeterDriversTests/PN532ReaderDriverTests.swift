import Foundation
import MeterCore
import MeterIO
@testable import MeterDrivers
import MeterProtocols
import MeterSimulation
import Synchronization
import Testing

/// The PN532 driver (libnfc's pn532_uart) against the simulated chip over a real pty. The driver
/// opens a symlink to the pty, as a site config names metersim's `link:`, so that an unplugged
/// and re-plugged reader (a new pty) is found again under the same name.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct PN532ReaderDriverTests {
    /// A started simulated reader, a symlink to its pty, and the driver running on the link.
    final class Rig {
        let server: PN532ReaderServer
        let directory: URL
        let link: String
        let events = ReaderEventLog()
        private var task: Task<Void, Never>?

        init(debounceMs: Int = 800) throws {
            server = try PN532ReaderServer(id: "nfc")
            try server.start()
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("pn532-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            link = directory.appendingPathComponent("reader").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: server.slavePath!)
            let reader = CardReaderConfig(id: ReaderID("door"), type: .pn532, port: link, debounceMs: debounceMs)
            let driver = PN532ReaderDriver(reader: reader, pollIntervalMs: 100, backoff: ReopenBackoff(firstMs: 100, maxMs: 1000))
            let events = events
            task = Task { await driver.run { events.append($0) } }
        }

        func plugInAgain() throws {
            let path = try server.plugIn()
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        }

        /// Cancels the driver and returns how long it took to return.
        func stop() async -> Double {
            let started = Date()
            task?.cancel()
            await task?.value
            task = nil
            let took = Date().timeIntervalSince(started)
            server.stop()
            try? FileManager.default.removeItem(at: directory)
            return took
        }
    }

    @Test func reportsTheFirmwareAndFourSevenAndTenByteUIDs() async throws {
        let rig = try Rig()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isReady) })
        if case let .ready(detail)? = rig.events.all.first(where: ReaderEventLog.isReady) {
            #expect(detail.contains("PN532 v1.6"), "\(detail)")
            #expect(detail.contains(rig.link), "\(detail)")
        }
        let uids: [[UInt8]] = [
            [0xDE, 0xAD, 0xBE, 0xEF],
            [0x04, 0x52, 0x8A, 0x1A, 0x3C, 0x5D, 0x80],
            [0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99],
        ]
        for (i, uid) in uids.enumerated() {
            #expect(rig.server.present(uid, seconds: 0.6) == nil)
            #expect(await rig.events.waitUntil(20) { $0.presented.count == i + 1 }, "card \(i + 1) not reported")
            try await Task.sleep(for: .milliseconds(1000))
        }
        #expect(rig.events.presented == uids.map { CardID(technology: .iso14443a, bytes: $0) })
        #expect(rig.events.count(ReaderEventLog.isLost) == 0)
        let took = await rig.stop()
        #expect(took < 2.5, "the driver took \(took) s to stop")
    }

    @Test func aCardHeldThreeSecondsIsOnePresentation() async throws {
        let rig = try Rig()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isReady) })
        _ = rig.server.present([0x01, 0x02, 0x03, 0x04], seconds: 3)
        try await Task.sleep(for: .milliseconds(4000))
        #expect(rig.events.presented.count == 1)
        // Taken away for longer than the debounce time and presented again: a second presentation.
        _ = rig.server.present([0x01, 0x02, 0x03, 0x04], seconds: 0.5)
        #expect(await rig.events.waitUntil(20) { $0.presented.count == 2 })
        _ = await rig.stop()
    }

    @Test func recoversAfterUnplugAndPlug() async throws {
        let rig = try Rig()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isReady) })
        rig.server.unplug()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isLost) }, "unplug not reported")
        try await Task.sleep(for: .milliseconds(600))
        #expect(rig.events.count(ReaderEventLog.isLost) == 1, "one outage, one report: \(rig.events.all)")
        try rig.plugInAgain()
        #expect(await rig.events.waitUntil(20) { $0.all.filter(ReaderEventLog.isReady).count == 2 }, "not reopened: \(rig.events.all)")
        _ = rig.server.present([0xA1, 0xB2, 0xC3, 0xD4], seconds: 0.5)
        #expect(await rig.events.waitUntil(20) { $0.presented.count == 1 })
        #expect(rig.events.presented == [CardID(technology: .iso14443a, bytes: [0xA1, 0xB2, 0xC3, 0xD4])])
        _ = await rig.stop()
    }

    @Test func recoversWhenTheChipStopsAnsweringOnAnOpenPort() async throws {
        let rig = try Rig()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isReady) })
        // Silent from the command after a selection: the poll's bounded step meets the silence.
        rig.server.stopAnswering(afterReplyTo: PN532Command.inListPassiveTarget)
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isLost) }, "silence not reported: \(rig.events.all)")
        if case let .lost(reason)? = rig.events.all.first(where: ReaderEventLog.isLost) {
            #expect(reason.contains("reader door on \(rig.link): stopped answering"), "\(reason)")
        }
        #expect(rig.server.statistics.ignored > 0)
        rig.server.answerAgain()
        #expect(await rig.events.waitUntil(20) { $0.all.filter(ReaderEventLog.isReady).count == 2 }, "not reopened: \(rig.events.all)")
        _ = rig.server.present([0x10, 0x20, 0x30, 0x40], seconds: 0.5)
        #expect(await rig.events.waitUntil(20) { $0.presented.count == 1 })
        #expect(await rig.stop() < 2.5)
    }

    @Test func garbageAndACorruptedReplyMakeNoCardAndDoNotStickTheDriver() async throws {
        let rig = try Rig()
        #expect(await rig.events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isReady) })
        for round in 0..<6 {
            if round % 2 == 0 { rig.server.sendGarbage(48) } else { rig.server.corruptNextFrame() }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(rig.events.presented.isEmpty)
        // A corrupted reply while a card is in the field: no wrong UID, and the card is still read.
        rig.server.corruptNextFrame()
        _ = rig.server.present([0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], seconds: 1)
        #expect(await rig.events.waitUntil(20) { !$0.presented.isEmpty })
        try await Task.sleep(for: .milliseconds(300))
        #expect(rig.events.presented == [CardID(technology: .iso14443a, bytes: [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])])
        #expect(rig.server.statistics.commands > 10)
        _ = await rig.stop()
    }

    @Test func aSilentOrMissingPortIsReportedOnceAndCancellationStillReturns() async throws {
        // A pty that nobody serves: a port with no PN532 behind it.
        let silent = try PseudoTerminal()
        for (port, why) in [(silent.slavePath, "no PN532 answered"), ("/dev/pn532-missing-\(UUID().uuidString.prefix(6))", "no such port")] {
            let events = ReaderEventLog()
            let reader = CardReaderConfig(id: ReaderID("gate"), type: .pn532, port: port)
            let driver = PN532ReaderDriver(reader: reader, pollIntervalMs: 100, backoff: ReopenBackoff(firstMs: 100, maxMs: 400))
            let task = Task { await driver.run { events.append($0) } }
            #expect(await events.waitUntil(20) { $0.all.contains(where: ReaderEventLog.isLost) })
            try await Task.sleep(for: .milliseconds(1500))
            let lost = events.all.compactMap { if case let .lost(reason) = $0 { reason } else { nil } }
            #expect(lost.count == 1, "retries stay quiet: \(lost)")
            #expect(lost.first?.contains("reader gate on \(port)") == true, "\(lost)")
            #expect(lost.first?.contains(why) == true, "\(lost)")
            #expect(!events.all.contains(where: ReaderEventLog.isReady))
            let started = Date()
            task.cancel()
            await task.value
            #expect(Date().timeIntervalSince(started) < 2.5)
        }
    }
}
