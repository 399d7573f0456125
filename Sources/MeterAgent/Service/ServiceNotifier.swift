#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import Synchronization

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram per message to
/// the unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract socket written `@name`).
/// Without `$NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call does nothing.
/// A send that fails is logged once and otherwise ignored: the agent's work never depends on it.
public final class ServiceNotifier: Sendable {
    /// The socket's address as `sendto` wants it; nil when there is nothing to notify.
    private let address: [UInt8]?
    private let socketFD: Int32
    /// Half of `$WATCHDOG_USEC` (the interval systemd recommends), when the watchdog is on for
    /// this process (`$WATCHDOG_PID` unset or ours).
    public let watchdogInterval: Duration?
    /// The watchdog's timeout itself (`$WATCHDOG_USEC`).
    public let watchdogTimeout: Duration?
    private let log: Log
    /// Set by `stopping`: nothing may pet the watchdog after STOPPING=1, so pets and status lines
    /// are sent under this lock, and not at all once it is set.
    private let stopped = Mutex(false)

    public init(environment: [String: String] = ServiceNotifier.processEnvironment(), log: Log) {
        self.log = log
        var address: [UInt8]? = nil
        if let path = environment["NOTIFY_SOCKET"], path.count > 1, path.hasPrefix("/") || path.hasPrefix("@") {
            var bytes = Array(path.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
            if bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) { address = bytes }
            else { log.warning("NOTIFY_SOCKET is too long; not notifying systemd", ["path": path]) }
        }
        self.address = address
        socketFD = address == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var timeout: Duration? = nil
        if address != nil, let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 {
            let pid = environment["WATCHDOG_PID"].flatMap { Int32($0) }
            if pid == nil || pid == getpid() { timeout = .microseconds(Int64(clamping: usec)) }
        }
        watchdogTimeout = timeout
        watchdogInterval = timeout.map { $0 / 2 }
    }

    deinit { if socketFD >= 0 { close(socketFD) } }

    /// Whether there is a service manager to notify.
    public var isActive: Bool { address != nil && socketFD >= 0 }

    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { stopped.withLock { if !$0 { send("STATUS=\(text)") } } }
    public func watchdog() { stopped.withLock { if !$0 { send("WATCHDOG=1") } } }
    public func stopping(status: String) {
        stopped.withLock {
            $0 = true
            send("STOPPING=1\nSTATUS=\(status)")
        }
    }

    /// Sends one message (newline-separated `KEY=value` lines) as one datagram.
    public func send(_ message: String) {
        guard let address, socketFD >= 0 else { return }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { path in
            for (i, byte) in address.enumerated() { path[i] = byte }
        }
        // An abstract address is as long as its bytes; a path one ends at its NUL.
        let length = MemoryLayout<sa_family_t>.size + address.count + (address[0] == 0 ? 0 : 1)
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(socketFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, socklen_t(length)) }
            }
        }
        if sent < 0 {
            let code = errno
            log.warning("cannot notify systemd", ["error": String(cString: strerror(code)), "message": message.split(separator: "\n").first.map(String.init) ?? ""])
        }
    }
}
