import Foundation
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterSimulation
import Synchronization
import Testing

/// The RDM6300 driver against the simulated module over a real pty (simulator in-process, its own
/// thread): debouncing, noise, and a reader unplugged and plugged in again under one driver.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RDM6300DriverTests {
    static let card: [UInt8] = [0x0F, 0x00, 0x27, 0x1D, 0xA5]
    static let other: [UInt8] = [0x1A, 0x2B, 0x3C, 0x4D, 0x5E]

    /// A simulated module, a symlink to its pty (what a site config names, so that a plugged-in
    /// reader on a new pty is found again) and a running driver.
    final class Bench {
        let server: RDM6300ReaderServer
        let directory: String
        let link: String
        let log = ReaderEventLog()
        var task: Task<Void, Never>?

        init(debounceMs: Int) throws {
            server = try RDM6300ReaderServer(id: "door", settings: SerialSettings(baud: 9600))
            try server.start()
            directory = NSTemporaryDirectory() + "rdm6300-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            link = directory + "/reader"
            try relink()
            let driver = RDM6300ReaderDriver(reader: CardReaderConfig(id: ReaderID("door"), type: .rdm6300, port: link,
                                                                      debounceMs: debounceMs))
            let log = self.log
            task = Task { await driver.run { log.append($0) } }
        }

        /// Points the link at the server's current pty (or removes it while unplugged).
        func relink() throws {
            try? FileManager.default.removeItem(atPath: link)
            if let path = server.slavePath { try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path) }
        }

        func ready() async -> Bool { await log.waitUntil(5) { $0.count(ReaderEventLog.isReady) >= 1 } }

        deinit {
            task?.cancel()
            server.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func aCardHeldThreeSecondsIsOnePresentation() async throws {
        let bench = try Bench(debounceMs: 1500)
        #expect(await bench.ready())
        #expect(bench.server.present(Self.card, seconds: 3) == nil)
        _ = await bench.log.waitUntil(3.6) { _ in false }
        #expect(bench.server.framesSent >= 20, "the module repeats the frame about every 100 ms")
        #expect(bench.log.presented == [CardID(technology: .em4100, bytes: Self.card)])
        #expect(bench.log.presented.first?.description == "em4100:0F00271DA5")
    }

    @Test func presentationsApartByMoreThanTheDebounceAreTwo() async throws {
        let bench = try Bench(debounceMs: 400)
        #expect(await bench.ready())
        #expect(bench.server.present(Self.card, seconds: 0.5) == nil)
        #expect(await bench.log.waitUntil(2) { $0.presented.count == 1 })
        // Gone for a second (more than 400 ms), then back: a second presentation.
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(bench.server.present(Self.card, seconds: 0.5) == nil)
        #expect(await bench.log.waitUntil(2) { $0.presented.count == 2 })
        // Another card is a presentation at once, even within the debounce time.
        #expect(bench.server.present(Self.other, seconds: 0.3) == nil)
        #expect(await bench.log.waitUntil(2) { $0.presented.count == 3 })
        _ = await bench.log.waitUntil(1) { _ in false }
        #expect(bench.log.presented == [Self.card, Self.card, Self.other].map { CardID(technology: .em4100, bytes: $0) })
    }

    @Test func garbageAndACorruptedFrameMakeNoCard() async throws {
        let bench = try Bench(debounceMs: 300)
        #expect(await bench.ready())
        bench.server.sendGarbage(600)
        bench.server.corruptNextFrame()
        // 600 bytes take 625 ms at 9600 baud; the card comes after them.
        try await Task.sleep(nanoseconds: 900_000_000)
        // In the field for less than the repeat interval: one frame only, the corrupted one.
        #expect(bench.server.present(Self.card, seconds: 0.05) == nil)
        _ = await bench.log.waitUntil(1.5) { _ in false }
        #expect(bench.server.framesSent == 1)
        #expect(bench.log.presented.isEmpty)
        // The decoder is in step again: the next good frame is a card.
        bench.server.sendGarbage(37)
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(bench.server.present(Self.other, seconds: 0.05) == nil)
        #expect(await bench.log.waitUntil(2) { !$0.presented.isEmpty })
        #expect(bench.log.presented == [CardID(technology: .em4100, bytes: Self.other)])
        #expect(bench.log.count(ReaderEventLog.isLost) == 0)
    }

    @Test func anUnpluggedReaderIsLostThenReadyAgain() async throws {
        let bench = try Bench(debounceMs: 300)
        #expect(await bench.ready())
        bench.server.unplug()
        try bench.relink()
        #expect(await bench.log.waitUntil(3) { $0.count(ReaderEventLog.isLost) == 1 })
        // Still unplugged through a few back-off rounds: one lost event for the outage, no spinning.
        try await Task.sleep(nanoseconds: 1_200_000_000)
        #expect(bench.log.count(ReaderEventLog.isLost) == 1)
        _ = try bench.server.plugIn()
        try bench.relink()
        #expect(await bench.log.waitUntil(8) { $0.count(ReaderEventLog.isReady) == 2 })
        #expect(bench.server.present(Self.card, seconds: 0.5) == nil)
        #expect(await bench.log.waitUntil(3) { $0.presented.count == 1 })
        let kinds = bench.log.all.map { e -> String in
            switch e {
            case .ready: "ready"
            case .lost: "lost"
            case .presented: "presented"
            }
        }
        #expect(kinds == ["ready", "lost", "ready", "presented"])
    }

    @Test func aPortThatCannotBeOpenedIsLostOnceAndNamed() async throws {
        let log = ReaderEventLog()
        let driver = RDM6300ReaderDriver(reader: CardReaderConfig(id: ReaderID("gate"), type: .rdm6300, port: "/dev/nonexistent-rdm"))
        let task = Task { await driver.run { log.append($0) } }
        #expect(await log.waitUntil(2) { $0.count(ReaderEventLog.isLost) == 1 })
        guard case let .lost(reason) = log.all.first else { Issue.record("no lost event"); return }
        #expect(reason.contains("gate") && reason.contains("/dev/nonexistent-rdm"), "\(reason)")
        task.cancel()
        await task.value
    }

    @Test func cancellationEndsTheDriverPromptly() async throws {
        let bench = try Bench(debounceMs: 300)
        #expect(await bench.ready())
        let task = try #require(bench.task)
        let started = Date()
        task.cancel()
        await task.value
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test func debouncerAndBackoffOnAnInjectedClock() {
        let a = CardID(technology: .em4100, bytes: Self.card)
        let b = CardID(technology: .em4100, bytes: Self.other)
        var debouncer = CardDebouncer(windowMs: 1000)
        var starts: [Bool] = [debouncer.sighted(a, atMs: 0)]
        // Repeats every 100 ms for 5 s: one presentation.
        for t in stride(from: Int64(100), through: 5000, by: 100) { starts.append(debouncer.sighted(a, atMs: t)) }
        #expect(starts == [true] + Array(repeating: false, count: 50))
        // Silence of exactly the window: a new presentation; another card at once; back to the first.
        let later = [debouncer.sighted(a, atMs: 6000), debouncer.sighted(b, atMs: 6100), debouncer.sighted(a, atMs: 6200)]
        #expect(later == [true, true, true])
        debouncer.reset()
        let afterReset = debouncer.sighted(a, atMs: 6300)
        #expect(afterReset)
        var backoff = ReopenBackoff()
        let delays = (0..<8).map { _ in backoff.next() }
        #expect(delays == [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000])
        backoff.reset()
        let first = backoff.next()
        #expect(first == 500)
    }
}
