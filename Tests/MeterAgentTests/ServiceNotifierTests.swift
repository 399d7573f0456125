import Foundation
import Glibc
import MeterAgent
import MeterCore
import Testing

/// sd_notify without libsystemd, and the progress the watchdog goes by (issue 13).
@Suite(.timeLimit(.minutes(1)))
struct ServiceNotifierTests {
    /// Binds an abstract datagram socket (`@name` in $NOTIFY_SOCKET) and returns its fd.
    func abstractSocket(_ name: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = [0] + Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(bound == 0, "bind: \(errno)")
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func receive(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }

    @Test func sendsEachMessageAsOneDatagramToAnAbstractSocket() throws {
        let name = "meteragent-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try abstractSocket(name)
        defer { close(fd) }
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"], log: .silent)
        #expect(notifier.isActive)
        #expect(notifier.watchdogTimeout == .seconds(3))
        #expect(notifier.watchdogInterval == .milliseconds(1500))
        notifier.ready(status: "polling 2 devices on 1 buses")
        notifier.watchdog()
        notifier.stopping(status: "stopping (signal 15)")
        #expect(receive(fd) == "READY=1\nSTATUS=polling 2 devices on 1 buses")
        #expect(receive(fd) == "WATCHDOG=1")
        #expect(receive(fd) == "STOPPING=1\nSTATUS=stopping (signal 15)")
    }

    @Test func withoutASocketOrForAnotherPidThereIsNoWatchdog() {
        let none = ServiceNotifier(environment: ["WATCHDOG_USEC": "1000000"], log: .silent)
        #expect(!none.isActive)
        #expect(none.watchdogInterval == nil)
        none.ready(status: "nothing happens")
        let relative = ServiceNotifier(environment: ["NOTIFY_SOCKET": "relative/path"], log: .silent)
        #expect(!relative.isActive)
        let other = ServiceNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": String(getpid() + 1)],
                                    log: .silent)
        #expect(other.isActive)
        #expect(other.watchdogInterval == nil, "WATCHDOG_PID names another process")
        let ours = ServiceNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": String(getpid())],
                                   log: .silent)
        #expect(ours.watchdogInterval == .milliseconds(500))
    }

    @Test func livenessStallsWithoutPollsOrWithRecordsWaitingForACommit() async throws {
        let limit = Duration.milliseconds(100)
        let liveness = Liveness()
        #expect(liveness.stall(limit: limit) == nil)
        try await Task.sleep(for: .milliseconds(150))
        #expect(liveness.stall(limit: limit)?.hasPrefix("no device poll completed") == true)
        liveness.pollCompleted()
        #expect(liveness.stall(limit: limit) == nil)

        liveness.recordsQueued()
        try await Task.sleep(for: .milliseconds(80))
        liveness.pollCompleted()
        liveness.recordsQueued()  // still waiting since the first
        try await Task.sleep(for: .milliseconds(80))
        liveness.pollCompleted()
        #expect(liveness.stall(limit: limit)?.hasPrefix("no answer from the store") == true)
        liveness.storeAnswered(stillQueued: false)
        #expect(liveness.stall(limit: limit) == nil)

        let readersOnly = Liveness(expectsPolls: false)
        try await Task.sleep(for: .milliseconds(150))
        #expect(readersOnly.stall(limit: limit) == nil, "a site without devices never polls")
    }
}
