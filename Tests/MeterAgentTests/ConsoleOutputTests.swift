#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import MeterCore
import Synchronization
import Testing
@testable import MeterAgent

/// The console queue against a real pipe whose reader is late, as journald or a shell pipeline can be.
@Suite(.timeLimit(.minutes(1)))
struct ConsoleOutputTests {
    /// A pipe; the test reads its end and hands the other to the queue. Both ends are closed by `close()`.
    struct TestPipe {
        let readFD: Int32
        let writeFD: Int32

        init() throws {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            readFD = fds[0]
            writeFD = fds[1]
        }

        /// Reads on a thread of its own (the test's tasks must keep running meanwhile) until
        /// `done` holds for what was read, or 20 s have passed (nothing if the test is cancelled).
        func read(until done: @escaping @Sendable (String) -> Bool) async -> String {
            await DedicatedThread.run(onCancel: "") { readBlocking(until: done) }
        }

        private func readBlocking(until done: (String) -> Bool) -> String {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            let deadline = Date().addingTimeInterval(20)
            while !done(String(decoding: bytes, as: UTF8.self)) && Date() < deadline {
                var ready = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 100) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, $0.count) }
                if n > 0 { bytes += buffer[..<n] }
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        /// What the pipe holds now, without waiting.
        func readAvailable() -> String {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            var ready = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            while poll(&ready, 1, 0) > 0 {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, $0.count) }
                guard n > 0 else { break }
                bytes += buffer[..<n]
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        func close() {
            _ = Glibc.close(readFD)
            _ = Glibc.close(writeFD)
        }
    }

    static func line(_ i: Int) -> String { "reading \(i) " + String(repeating: "x", count: 40) }

    @Test func readingsWaitForRoomWhileTheReaderIsLateAndAllArriveInOrder() async throws {
        let pipe = try TestPipe()
        defer { pipe.close() }
        let console = ConsoleOutput(fd: pipe.writeFD, capacityBytes: 4096)
        // 4,000 lines, 200 kB: more than the pipe (64 kB) and the queue (4 kB) hold together.
        let count = 4000
        let written = Mutex(0)
        let writer = Task {
            for i in stride(from: 0, to: count, by: 2) {
                await console.write(lines: [Self.line(i), Self.line(i + 1)])
                written.withLock { $0 += 2 }
            }
        }
        // Nothing is read yet: the writer must be waiting for room, not have queued without bound
        // (the pipe and the queue hold about 1,400 of the lines).
        try await Task.sleep(for: .milliseconds(300))
        #expect(written.withLock { $0 } < 2000)
        let expected = (0..<count).map { Self.line($0) + "\n" }.joined()
        let received = await pipe.read { $0.utf8.count >= expected.utf8.count }
        await writer.value
        #expect(received == expected)
    }

    /// What arrived of lines `0..<count`: every line is either delivered, in order, or counted
    /// in a drop notice.
    struct Accounting {
        var delivered: [Int] = []
        var dropped = 0
        var unexpected: [Substring] = []

        static func notice(_ fd: Int32) -> String { "warning fd \(fd) was not read fast enough; lines dropped count=" }

        init(_ text: String, fd: Int32) {
            let notice = Self.notice(fd)
            for line in text.split(separator: "\n") {
                if line.hasPrefix("reading "), let i = Int(line.split(separator: " ")[1]) {
                    delivered.append(i)
                } else if line.contains(notice), let n = Int(line.split(separator: "=").last ?? "") {
                    dropped += n
                } else {
                    unexpected.append(line)
                }
            }
        }

        static func read(_ count: Int, from pipe: TestPipe) async -> Accounting {
            let fd = pipe.writeFD
            let text = await pipe.read { text in
                let seen = Accounting(text, fd: fd)
                return text.hasSuffix("\n") && seen.delivered.count + seen.dropped >= count
            }
            return Accounting(text, fd: fd)
        }

        func check(_ count: Int) {
            #expect(unexpected.isEmpty)
            #expect(delivered == delivered.sorted())
            #expect(delivered.first == 0)
            #expect(delivered.count + dropped == count, "\(delivered.count) delivered, \(dropped) dropped of \(count)")
            #expect(dropped > 0)
        }
    }

    /// Writes lines `0..<count` until the queue and the unread pipe are full, then cancels the
    /// writer as a stopping agent does. The writer must not wait for ever (the suite's time limit
    /// fails the test if it does).
    static func writeUntilCancelled(_ count: Int, to console: ConsoleOutput) async throws {
        let writer = Task {
            for i in 0..<count { await console.write(lines: [line(i)]) }
        }
        try await Task.sleep(for: .milliseconds(300))
        writer.cancel()
        await writer.value
    }

    @Test func logLinesAreDroppedWhenTheQueueIsFullAndTheDropIsReported() async throws {
        let pipe = try TestPipe()
        defer { pipe.close() }
        let console = ConsoleOutput(fd: pipe.writeFD, capacityBytes: 1024)
        let count = 4000
        for i in 0..<count { console.post(Self.line(i) + "\n") }
        await Accounting.read(count, from: pipe).check(count)
    }

    @Test func aCancelledWriterStopsWaitingAndWhatItCouldNotQueueIsCounted() async throws {
        let pipe = try TestPipe()
        defer { pipe.close() }
        let console = ConsoleOutput(fd: pipe.writeFD, capacityBytes: 4096)
        let count = 4000
        try await Self.writeUntilCancelled(count, to: console)
        await Accounting.read(count, from: pipe).check(count)
    }

    @Test func anUnreadStreamDoesNotSilenceTheOtherWhichReportsItsDrops() async throws {
        let out = try TestPipe(), err = try TestPipe()
        defer { out.close(); err.close() }
        let log = ConsoleOutput(fd: err.writeFD, capacityBytes: 4096)
        let console = ConsoleOutput(fd: out.writeFD, capacityBytes: 4096, noticesTo: log)
        let count = 4000
        try await Self.writeUntilCancelled(count, to: console)
        // stdout is still unread and its writer thread blocked: the log flows all the same.
        let alive = "still logging\n"
        log.post(alive)
        #expect(await err.read { $0.contains(alive) }.contains(alive))
        // Once stdout is read, its drops are counted on the log.
        let printed = await out.read { _ in console.isIdle } + out.readAvailable()
        let logged = await err.read { $0.contains(Accounting.notice(out.writeFD)) && $0.hasSuffix("\n") }
        Accounting(printed + logged.replacingOccurrences(of: alive, with: ""), fd: out.writeFD).check(count)
    }

    @Test func drainWaitsForWhatIsQueued() async throws {
        let pipe = try TestPipe()
        defer { pipe.close() }
        let console = ConsoleOutput(fd: pipe.writeFD, capacityBytes: 1 << 20)
        let text = (0..<1000).map { Self.line($0) + "\n" }.joined()
        // Larger than the pipe: the writer thread finishes only as the reader below reads.
        console.post(text)
        let reader = Task { await pipe.read { $0.utf8.count >= text.utf8.count } }
        console.drain(until: .now + .seconds(20))
        #expect(console.isIdle)
        #expect(await reader.value == text)
    }
}
