import Testing
import Glibc
@testable import MeterIO

@Suite struct DeviceBackoffTests {
    @Test func threeTimeoutsStartBackoff() {
        var backoff = DeviceBackoff()
        backoff.recordFailure(now: 1_000)
        backoff.recordFailure(now: 1_500)
        #expect(!backoff.shouldSkip(now: 1_600))
        #expect(!backoff.isBackingOff)
        backoff.recordFailure(now: 2_000)
        #expect(backoff.isBackingOff)
        #expect(backoff.shouldSkip(now: 2_000))
        #expect(backoff.shouldSkip(now: 3_999))
        #expect(backoff.remainingMs(now: 3_000) == 1_000)
        // After the interval one probe is let through.
        #expect(!backoff.shouldSkip(now: 4_000))
    }

    @Test func failedProbesDoubleTheIntervalUpToTheCap() {
        var backoff = DeviceBackoff(threshold: 3, initialMs: 2_000, maxMs: 60_000)
        var now: UInt64 = 0
        for _ in 0..<3 { backoff.recordFailure(now: now) }
        var intervals: [UInt64] = [backoff.intervalMs]
        for _ in 0..<7 {
            now = backoff.skipUntilMs
            #expect(!backoff.shouldSkip(now: now))
            backoff.recordFailure(now: now)
            #expect(backoff.shouldSkip(now: now))
            intervals.append(backoff.intervalMs)
        }
        #expect(intervals == [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
        #expect(backoff.skipUntilMs == now + 60_000)
    }

    @Test func oneSuccessResetsEverything() {
        var backoff = DeviceBackoff()
        for t in 0..<5 { backoff.recordFailure(now: UInt64(t) * 10_000) }
        #expect(backoff.isBackingOff)
        backoff.recordSuccess()
        #expect(!backoff.isBackingOff)
        #expect(!backoff.shouldSkip(now: 40_001))
        #expect(backoff.consecutiveFailures == 0)
        // It takes the full threshold again, and restarts from the initial interval.
        backoff.recordFailure(now: 50_000)
        backoff.recordFailure(now: 50_000)
        #expect(!backoff.isBackingOff)
        backoff.recordFailure(now: 50_000)
        #expect(backoff.intervalMs == 2_000)
    }

    @Test func successBetweenTimeoutsKeepsTheDeviceIn() {
        var backoff = DeviceBackoff()
        backoff.recordFailure(now: 0)
        backoff.recordFailure(now: 0)
        backoff.recordSuccess()
        backoff.recordFailure(now: 0)
        backoff.recordFailure(now: 0)
        #expect(!backoff.shouldSkip(now: 1))
    }
}

@Suite struct ModbusErrnoTests {
    @Test func libmodbusCodesMapToKinds() {
        let base = Int32(112_345_678)
        #expect(ModbusErrno.classify(ETIMEDOUT).kind == .timeout)
        #expect(ModbusErrno.classify(base + 2).kind == .exception(.illegalDataAddress))
        #expect(ModbusErrno.classify(base + 11).kind == .exception(.gatewayTargetFailed))
        #expect(ModbusErrno.classify(base + 12).kind == .checksumError)          // EMBBADCRC
        #expect(ModbusErrno.classify(base + 13).kind == .invalidResponse)   // EMBBADDATA
        #expect(ModbusErrno.classify(base + 16).kind == .invalidResponse)   // EMBMDATA
        #expect(ModbusErrno.classify(base + 17).kind == .invalidResponse)   // EMBBADSLAVE
        for code in [ECONNRESET, EPIPE, ECONNREFUSED, EBADF] {
            let c = ModbusErrno.classify(code)
            #expect(c.kind == .connection)
            #expect(c.needsReconnect)
        }
        #expect(!ModbusErrno.classify(ETIMEDOUT).needsReconnect)
        #expect(ModbusErrno.message(base + 2).lowercased().contains("illegal data address"))
    }
}
