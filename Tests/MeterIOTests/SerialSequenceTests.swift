import Foundation
import MeterCore
import MeterIO
import MeterTestSupport
import Testing

/// A sequence of requests is one job of the bus thread: nothing goes between its frames (an ESAM
/// authentication and the encrypted command behind it), and it ends at the first failure or when
/// the caller's `proceeds` says so.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct SerialSequenceTests {
    @Test func noTransactionGoesBetweenTheFramesOfASequence() async throws {
        // Request 1 of device 1 takes 300 ms to answer: time to queue the others behind it.
        let line = try ToyMeterLine { r in
            if r == [1, 1] { Thread.sleep(forTimeInterval: 0.3) }
            return [0xA5, r[0], r[1]]
        }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 2000)
        defer { bus.close() }
        let polling = Task { try await bus.transact(toyRequest(1, 1)) }
        #expect(await eventually(within: 10) { line.requests.count == 1 })
        let polls = [Task { try await bus.transact(toyRequest(2, 1)) }, Task { try await bus.transact(toyRequest(2, 2)) }]
        #expect(await eventually(within: 10) { bus.statistics.queued == 2 })
        let answered = await BusPriority.command {
            await bus.transact(SerialSequence([toyRequest(3, 1), toyRequest(3, 2)]))
        }
        #expect(answered.replies == [[0xA5, 3, 1], [0xA5, 3, 2]] && answered.failure == nil)
        _ = try await polling.value
        for poll in polls { _ = try await poll.value }
        // Ahead of the polls queued before it (a command), and in one piece: two separate urgent
        // transactions would have let the first poll in between.
        // (The two polls were queued by two tasks at once: either may be first.)
        #expect(Array(line.requests.prefix(3)) == [[1, 1], [3, 1], [3, 2]])
        #expect(Set(line.requests.dropFirst(3)) == [[2, 1], [2, 2]])
        #expect(bus.statistics.transactions == 5)
    }

    @Test func proceedsEndsTheSequenceAfterARefusal() async throws {
        // n = 0xFF stands for a reply that refuses.
        let line = try ToyMeterLine { r in [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = line.bus()
        defer { bus.close() }
        let answered = await bus.transact(SerialSequence([toyRequest(1, 0xFF), toyRequest(1, 2)], proceeds: { _, reply in reply[2] != 0xFF }))
        #expect(answered.replies == [[0xA5, 1, 0xFF]] && answered.failure == nil)
        #expect(line.requests == [[1, 0xFF]])
    }

    @Test func aLaterFailureKeepsTheRepliesBeforeItAndAFirstOneHasNone() async throws {
        let line = try ToyMeterLine { r in r[0] == 9 ? nil : [0xA5, r[0], r[1]] }
        defer { line.stop() }
        let bus = line.bus(timeoutMs: 100)
        defer { bus.close() }
        let partly = await bus.transact(SerialSequence([toyRequest(1, 1), toyRequest(9, 2), toyRequest(1, 3)]))
        #expect(partly.replies == [[0xA5, 1, 1]])
        #expect(partly.failure?.kind == .timeout && partly.failure?.device == "dev-9" && partly.failure?.item == "n 2")
        let none = await bus.transact(SerialSequence([toyRequest(9, 4), toyRequest(1, 5)]))
        #expect(none.replies.isEmpty && none.failure?.kind == .timeout)
        #expect(line.requests == [[1, 1], [9, 2], [9, 4]])
        #expect(await bus.transact(SerialSequence([])).replies.isEmpty)
        // A single request still throws its failure, as before.
        await #expect(throws: SerialBusError.self) { _ = try await bus.transact(toyRequest(9, 6)) }
    }
}
