import Foundation

/// A pipe whose read end sits in every serving thread's poll() set, so `stop()` wakes a thread
/// that waits without a timeout (idle servers then cost no CPU).
final class WakePipe: Sendable {
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    var isSignalled: Bool {
        var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }

    /// Waits up to `seconds`; returns false early if signalled.
    func sleep(_ seconds: Double) -> Bool {
        guard seconds > 0 else { return !isSignalled }
        var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        let deadline = Monotonic.now() + seconds
        while true {
            let left = deadline - Monotonic.now()
            if left <= 0 { return true }
            let rc = poll(&pfd, 1, Int32(max(1, (left * 1000).rounded(.up))))
            if rc > 0 { return false }
        }
    }
}
