import Testing
@testable import MeterUplink

/// Deterministic "randomness": returns the values it is given, in a cycle.
struct ScriptedRandom: RandomNumberGenerator {
    var values: [UInt64]
    var index = 0
    init(_ values: [UInt64]) { self.values = values }
    mutating func next() -> UInt64 {
        defer { index = (index + 1) % values.count }
        return values[index]
    }
}

/// A small seeded generator (SplitMix64) for property-style checks.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct ReconnectBackoffTests {
    typealias Machine = ReconnectBackoff<SeededRandom>

    func waitMs<R>(_ action: ReconnectBackoff<R>.Action) -> Int? {
        if case let .wait(ms) = action { return ms }
        return nil
    }

    @Test func firstAttemptIsImmediate() {
        var machine = Machine(policy: .init(minMs: 1000, maxMs: 60_000), random: SeededRandom(state: 1))
        #expect(machine.start() == .connect)
        #expect(machine.state == .connecting(failures: 0))
        // A second start does nothing.
        #expect(machine.start() == .none)
    }

    @Test func waitsGrowExponentiallyWithinJitterBoundsAndStopAtTheCap() {
        var machine = Machine(policy: .init(minMs: 1000, maxMs: 30_000), random: SeededRandom(state: 42))
        _ = machine.start()
        let steps = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        for (i, step) in steps.enumerated() {
            let action = machine.connectFailed()
            let ms = try! #require(waitMs(action), "attempt \(i + 1): \(action)")
            #expect(ms >= step / 2 && ms <= step, "attempt \(i + 1): waited \(ms) ms, step \(step)")
            #expect(machine.failures == i + 1)
            #expect(machine.waitElapsed() == .connect)
        }
    }

    @Test func jitterUsesTheInjectedRandomness() {
        // Lowest and highest random draws give the two ends of the jitter range.
        var low = ReconnectBackoff(policy: .init(minMs: 1000, maxMs: 8000), random: ScriptedRandom([0]))
        _ = low.start()
        #expect(low.connectFailed() == .wait(ms: 500))
        var high = ReconnectBackoff(policy: .init(minMs: 1000, maxMs: 8000), random: ScriptedRandom([500]))
        _ = high.start()
        #expect(high.connectFailed() == .wait(ms: 1000))
    }

    @Test func manyGatewaysDoNotReconnectInLockStep() {
        var waits = Set<Int>()
        for seed in 0..<50 {
            var machine = Machine(policy: .init(minMs: 1000, maxMs: 60_000), random: SeededRandom(state: UInt64(seed)))
            _ = machine.start()
            for _ in 0..<3 { _ = machine.connectFailed(); _ = machine.waitElapsed() }
            waits.insert(waitMs(machine.connectFailed())!)
        }
        #expect(waits.count > 40, "only \(waits.count) distinct waits among 50 gateways")
    }

    @Test func aStableConnectionResetsTheBackoffButAFlappingOneDoesNot() {
        var machine = ReconnectBackoff(policy: .init(minMs: 1000, maxMs: 60_000, stableAfterMs: 30_000), random: ScriptedRandom([UInt64.max - 7]))
        _ = machine.start()
        for _ in 0..<4 { _ = machine.connectFailed(); _ = machine.waitElapsed() }
        #expect(machine.connected(nowMs: 100_000) == .none)
        #expect(machine.state == .connected(sinceMs: 100_000, failures: 4))
        // Dropped after 2 s: the broker accepts and kicks us; keep growing (step 16 s).
        let flap = waitMs(machine.connectionLost(nowMs: 102_000))!
        #expect(flap > 8000 && flap <= 16_000)
        #expect(machine.failures == 5)
        _ = machine.waitElapsed()
        _ = machine.connected(nowMs: 200_000)
        // Up for a minute: back to the first step.
        let fresh = waitMs(machine.connectionLost(nowMs: 260_000))!
        #expect(fresh > 500 && fresh <= 1000)
        #expect(machine.failures == 1)
    }

    @Test func eventsThatDoNotApplyChangeNothing() {
        var machine = Machine(policy: .init(minMs: 100, maxMs: 1000), random: SeededRandom(state: 3))
        #expect(machine.connectFailed() == .none)
        #expect(machine.connectionLost(nowMs: 5) == .none)
        #expect(machine.waitElapsed() == .none)
        #expect(machine.state == .idle)
        _ = machine.start()
        #expect(machine.connectionLost(nowMs: 5) == .none)
        #expect(machine.state == .connecting(failures: 0))
        #expect(machine.stop() == .none)
        #expect(machine.state == .stopped)
        #expect(machine.waitElapsed() == .none)
        #expect(machine.start() == .none)
    }

    @Test func policyKeepsMaxAtOrAboveMin() {
        let policy = ReconnectBackoff<SeededRandom>.Policy(minMs: 5000, maxMs: 10)
        #expect(policy.maxMs == 5000)
        var machine = Machine(policy: policy, random: SeededRandom(state: 9))
        _ = machine.start()
        for _ in 0..<70 { _ = machine.connectFailed(); _ = machine.waitElapsed() }
        let ms = waitMs(machine.connectFailed())!
        #expect(ms >= 2500 && ms <= 5000)
    }
}
