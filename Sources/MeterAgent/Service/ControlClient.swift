#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore

/// Why a control request got no answer.
public struct ControlClientError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// Nothing listens on the socket (no file, or a file left by an agent that was killed).
    public var noAgent = false
}

/// The technician's side of the control socket: one request line out, one reply line back.
public enum ControlClient {
    /// The control socket when neither `run` nor `status` is given `--control-socket`:
    /// `$METERAGENT_CONTROL_SOCKET`; else `/run/meteragent/control.sock` when that directory exists
    /// and is writable (systemd's `RuntimeDirectory=meteragent`); else
    /// `$XDG_RUNTIME_DIR/meteragent.sock`; else `/tmp/meteragent-<uid>/control.sock`.
    public static func defaultPath(environment: [String: String] = ControlClient.environment()) -> String {
        if let path = environment["METERAGENT_CONTROL_SOCKET"], !path.isEmpty { return path }
        if access("/run/meteragent", W_OK | X_OK) == 0 { return "/run/meteragent/control.sock" }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/meteragent.sock" }
        return "/tmp/meteragent-\(geteuid())/control.sock"
    }

    /// The variables `defaultPath` looks at, from the process's environment.
    public static func environment() -> [String: String] {
        var result: [String: String] = [:]
        for name in ["METERAGENT_CONTROL_SOCKET", "XDG_RUNTIME_DIR"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }

    /// Longest reply taken (a status of a few hundred devices is far below it).
    static let maxReplyBytes = 4 * 1024 * 1024

    /// Sends `request` (one JSON object, without newline) to the agent at `path` and returns its
    /// reply line. Runs on a thread of its own.
    public static func send(path: String, request: String, timeoutMs: Int = 10_000) async throws(ControlClientError) -> ControlReply {
        let result = await DedicatedThread.run(onCancel: Result<ControlReply, ControlClientError>.failure(ControlClientError(description: "cancelled"))) {
            exchange(path: path, request: request, timeoutMs: timeoutMs)
        }
        return try result.get()
    }

    private static func exchange(path: String, request: String, timeoutMs: Int) -> Result<ControlReply, ControlClientError> {
        let fd = UnixSocket.connected(to: path)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ECONNREFUSED {
                return .failure(ControlClientError(description: "no agent is listening on \(path) — is meteragent running?", noAgent: true))
            }
            return .failure(ControlClientError(description: "cannot reach the agent at \(path): \(String(cString: strerror(code)))"))
        }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard UnixSocket.writeAll(fd, Array((request + "\n").utf8)) else {
            return .failure(ControlClientError(description: "cannot send to the agent at \(path): \(UnixSocket.lastError())"))
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                return .failure(ControlClientError(description: "the agent at \(path) did not answer within \(timeoutMs) ms"))
            }
            if n == 0 { break }
            reply += buffer[..<n]
            if reply.last == UInt8(ascii: "\n") { break }
            if reply.count > maxReplyBytes { return .failure(ControlClientError(description: "the agent's reply is larger than \(maxReplyBytes) bytes")) }
        }
        if reply.last == UInt8(ascii: "\n") { reply.removeLast() }
        guard !reply.isEmpty else { return .failure(ControlClientError(description: "the agent at \(path) closed the connection without a reply")) }
        return .success(ControlReply(line: String(decoding: reply, as: UTF8.self)))
    }
}

/// The agent's reply: `{"ok":true, …}` or `{"ok":false,"error":"…"}`.
public struct ControlReply: Sendable {
    /// The reply as the agent wrote it (one JSON object).
    public let line: String

    public var ok: Bool { line.hasPrefix("{\"ok\":true") }

    /// A string field of the reply (`error`, `text`), nil when absent or the reply is not JSON.
    public func string(_ key: String) -> String? {
        guard let object = try? JSONObject(Array(line.utf8), what: "reply", maxBytes: ControlClient.maxReplyBytes) else { return nil }
        return try? object.string(key)
    }
}

/// The few socket calls the control server and client share.
enum UnixSocket {
    /// Calls `body` with `path` as a `sockaddr_un`; nil when the path is too long for one.
    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A socket connected to `path`, or -1 with `errno` set. Non-blocking while it connects, so
    /// that an agent whose backlog is full cannot hold the caller (`EAGAIN`).
    static func connected(to path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return -1 }
        guard let result = withAddress(path, { connect(fd, $0, $1) }) else {
            close(fd)
            errno = ENAMETOOLONG
            return -1
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            errno = code
            return -1
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Whether something accepts connections on `path` (an agent, or one too busy to accept now).
    static func isAnswering(_ path: String) -> Bool {
        let fd = connected(to: path)
        if fd >= 0 {
            close(fd)
            return true
        }
        return errno == EAGAIN
    }

    /// Writes all of `bytes` (no SIGPIPE when the peer has gone); false on an error or timeout.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
