#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MeterCore
import Synchronization

/// One request on the control socket: `{"request":"NAME", …}` on one line.
public struct ControlRequest: Sendable {
    public let name: String
    private let fields: [String: YAMLNode]
    /// The user id of the process that sent it (`SO_PEERCRED`); nil when the kernel did not say.
    public internal(set) var peerUID: UInt32?

    init(line: [UInt8]) throws(ControlSocketError) {
        let object: JSONObject
        do {
            object = try JSONObject(line, what: "control request", maxBytes: ControlServer.maxRequestBytes)
        } catch {
            throw ControlSocketError(error.description)
        }
        do {
            name = try object.string("request")
        } catch {
            throw ControlSocketError(error.description)
        }
        fields = object.entries
    }

    /// A string field of the request, nil when absent or not a string.
    public func string(_ key: String) -> String? {
        guard case let .scalar(text, plain: false)? = fields[key]?.kind else { return nil }
        return text
    }

    /// The reply to a request that failed: `{"ok":false,"error":"…"}`.
    public static func failure(_ message: String) -> String {
        "{\"ok\":false,\"error\":" + JSONWriter.quoted(message) + "}"
    }
}

/// Why the control socket cannot be set up or used.
public struct ControlSocketError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// Another agent answers on the socket: a second agent on the same site is refused.
    public var inUse = false
    init(_ description: String, inUse: Bool = false) {
        self.description = description
        self.inUse = inUse
    }
}

/// The running agent's control socket (`meteragent status`, and the requests added next to it):
/// a unix stream socket, mode 0600, that answers one JSON request line with one JSON line and
/// closes. Requests are handled by name (`handle("status") { request in … }`).
///
/// One dedicated thread accepts, and each client is answered on a thread of its own, at most
/// `maxClients` at once (blocking accept, read and write never run on Swift's pool), each with a
/// read timeout and a bounded request size; a handler runs as a task and may take at most its own
/// timeout. The socket file of an agent that was killed is
/// replaced at start; one that another agent still answers on is not (`inUse`). It is removed at stop.
public final class ControlServer: Sendable {
    public typealias Handler = @Sendable (ControlRequest) async -> String

    public let path: String
    private let fd: Int32
    /// The socket file this server made, so that stop removes only its own.
    private let inode: UInt64
    /// A pipe whose write end `stop` closes: it wakes the thread from `poll` (no periodic wake-ups
    /// on an idle gateway).
    private let wake: (read: Int32, write: Int32)
    private let handlers = Mutex<[String: (timeoutMs: Int, handler: Handler)]>([:])
    private let thread = Mutex<DedicatedThread?>(nil)
    private let stopped = Mutex(false)
    /// Clients being answered, each on a thread of its own.
    private let inFlight = WaitableState(0)
    private let log: Log

    /// Room for an `apply` request: a whole site config, JSON-escaped.
    static let maxRequestBytes = 512 * 1024
    static let readTimeoutMs = 2_000
    static let maxClients = 4

    /// Claims `path`: creates its directory (0700) if missing, replaces a stale socket file, binds
    /// the socket with mode 0600 and listens. Nothing is answered before `start`.
    public static func claim(path: String, log: Log) async throws(ControlSocketError) -> ControlServer {
        let result = await DedicatedThread.run(onCancel: Result<(Int32, UInt64), ControlSocketError>.failure(ControlSocketError("cancelled"))) {
            Result { () throws(ControlSocketError) in try bindSocket(path) }
        }
        let (fd, inode) = try result.get()
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            let message = UnixSocket.lastError()
            close(fd)
            unlink(path)
            throw ControlSocketError("control socket: pipe: \(message)")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return ControlServer(path: path, fd: fd, inode: inode, wake: (ends[0], ends[1]), log: log)
    }

    private init(path: String, fd: Int32, inode: UInt64, wake: (read: Int32, write: Int32), log: Log) {
        self.path = path
        self.fd = fd
        self.inode = inode
        self.wake = wake
        self.log = log
    }

    /// Answers requests named `name` with `handler`'s reply: one JSON object on one line that
    /// starts with `{"ok":true` (what `ControlReply.ok` looks for), or `ControlRequest.failure(…)`.
    /// A handler that takes longer than `timeoutMs` gets the client an error reply (the handler
    /// itself runs on).
    public func handle(_ name: String, timeoutMs: Int = 10_000, _ handler: @escaping Handler) {
        handlers.withLock { $0[name] = (timeoutMs, handler) }
    }

    /// Starts answering on the server's thread.
    public func start() throws(ControlSocketError) {
        do {
            let started = try DedicatedThread(stackBytes: 256 * 1024) { [self] in serve() }
            thread.withLock { $0 = started }
        } catch {
            throw ControlSocketError("control socket \(path): \(error)")
        }
        log.info("control socket open", ["path": path])
    }

    /// Stops answering (a request being answered finishes first), closes the socket and removes
    /// its file.
    public func stop() async {
        guard !stopped.withLock({ s in defer { s = true }; return s }) else { return }
        close(wake.write)
        if let running = thread.withLock({ $0 }) {
            await DedicatedThread.run(onCancel: ()) { _ = running.join(timeoutMs: 15_000) }
        } else {
            close(fd)
            close(wake.read)
        }
        removeFile()
    }

    private func removeFile() {
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_ino) == inode { unlink(path) }
    }

    // MARK: - The server's thread

    private func serve() {
        defer {
            close(fd)
            close(wake.read)
            // Requests being answered finish first (an apply ends at once once the agent stops).
            inFlight.wait(until: { $0 == 0 }, timeoutMs: 15_000, then: { _ in })
        }
        var watched = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&watched, 2, -1)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0 else { continue }
            // The wake pipe's write end closed: the agent stops.
            if watched[1].revents != 0 { return }
            guard watched[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else {
                // Out of descriptors: the socket stays readable, so wait instead of spinning.
                if errno == EMFILE || errno == ENFILE { usleep(100_000) }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serveOnItsOwnThread(client)
        }
    }

    /// Answers `client` on a thread of its own, so that a long request (an apply waiting for its
    /// health check) does not hold `status`; at most `maxClients` at once, others are told so.
    private func serveOnItsOwnThread(_ client: Int32) {
        let admitted = inFlight.withLock { count -> Bool in
            guard count < Self.maxClients else { return false }
            count += 1
            return true
        }
        guard admitted else {
            _ = UnixSocket.writeAll(client, Array((ControlRequest.failure("the agent is answering \(Self.maxClients) requests; try again") + "\n").utf8))
            close(client)
            return
        }
        let done: @Sendable () -> Void = { [inFlight] in
            close(client)
            inFlight.withLock { $0 -= 1 }
            inFlight.broadcast()
        }
        do {
            try DedicatedThread(stackBytes: 256 * 1024) { [self] in
                answer(client)
                done()
            }
        } catch {
            done()
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: Self.readTimeoutMs / 1000, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let reply: String
        switch readLine(client) {
        case let .failure(error):
            reply = ControlRequest.failure(error.description)
        case let .success(line):
            reply = dispatch(line, peerUID: Self.peerUID(client))
        }
        _ = UnixSocket.writeAll(client, Array((reply + "\n").utf8))
    }

    /// Who is at the other end of `client`, as the kernel saw it connect.
    private static func peerUID(_ client: Int32) -> UInt32? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc's module hides the type's name).
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        guard getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, length == 12 else { return nil }
        return credentials.1
    }

    private func dispatch(_ line: [UInt8], peerUID: UInt32?) -> String {
        var request: ControlRequest
        do {
            request = try ControlRequest(line: line)
        } catch {
            return ControlRequest.failure(error.description)
        }
        request.peerUID = peerUID
        guard let entry = handlers.withLock({ $0[request.name] }) else {
            let known = handlers.withLock { $0.keys.sorted() }.joined(separator: ", ")
            return ControlRequest.failure("unknown request '\(request.name)' (this agent answers: \(known))")
        }
        let (timeoutMs, handler) = (entry.timeoutMs, entry.handler)
        let answer = WaitableState<String?>(nil)
        Task {
            let text = await handler(request)
            answer.withLock { $0 = text }
            answer.broadcast()
        }
        return answer.wait(until: { $0 != nil }, timeoutMs: timeoutMs) { $0 }
            ?? ControlRequest.failure("'\(request.name)' did not finish within \(timeoutMs) ms")
    }

    /// The request line, up to its newline or the end of the client's input.
    private func readLine(_ client: Int32) -> Result<[UInt8], ControlSocketError> {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return .failure(ControlSocketError("no complete request within \(Self.readTimeoutMs) ms")) }
            if n == 0 { break }
            if let newline = buffer[..<n].firstIndex(of: UInt8(ascii: "\n")) {
                line += buffer[..<newline]
                break
            }
            line += buffer[..<n]
            if line.count > Self.maxRequestBytes {
                return .failure(ControlSocketError("request longer than \(Self.maxRequestBytes) bytes"))
            }
        }
        return .success(line)
    }

    // MARK: - Claiming the path

    /// Binds a listening socket at `path` (see `claim`); returns it and the socket file's inode.
    private static func bindSocket(_ path: String) throws(ControlSocketError) -> (Int32, UInt64) {
        try prepareDirectory(of: path)
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else {
                throw ControlSocketError("control socket \(path) exists and is not a socket")
            }
            if UnixSocket.isAnswering(path) {
                throw ControlSocketError("another agent is answering on the control socket \(path)", inUse: true)
            }
            // A socket nobody listens on: left by an agent that was killed.
            unlink(path)
        }
        // Bound under a temporary name and given its mode before it takes the real name: no
        // moment in which another user could connect.
        let temporary = path + ".\(getpid())"
        unlink(temporary)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError("control socket: socket(): \(UnixSocket.lastError())") }
        guard let bound = UnixSocket.withAddress(temporary, { bind(fd, $0, $1) }) else {
            close(fd)
            throw ControlSocketError("control socket path \(temporary) is longer than a unix socket path may be")
        }
        guard bound == 0 else {
            let message = UnixSocket.lastError()
            close(fd)
            throw ControlSocketError("control socket \(path): bind: \(message)")
        }
        guard chmod(temporary, 0o600) == 0, rename(temporary, path) == 0, listen(fd, 4) == 0 else {
            let message = UnixSocket.lastError()
            close(fd)
            unlink(temporary)
            throw ControlSocketError("control socket \(path): \(message)")
        }
        var info = stat()
        lstat(path, &info)
        return (fd, UInt64(info.st_ino))
    }

    /// Makes the socket's directory (mode 0700) when it is missing; a directory that exists must
    /// belong to this user or root and be writable by no one else, unless it is sticky (`/tmp`).
    private static func prepareDirectory(of path: String) throws(ControlSocketError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard !directory.isEmpty else { return }
        var info = stat()
        if lstat(directory, &info) != 0 {
            guard errno == ENOENT, mkdir(directory, 0o700) == 0 else {
                throw ControlSocketError("control socket directory \(directory): \(UnixSocket.lastError())")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ControlSocketError("control socket directory \(directory) is not a directory")
        }
        let othersMayWrite = info.st_mode & 0o022 != 0 && info.st_mode & 0o1000 == 0
        guard info.st_uid == geteuid() || info.st_uid == 0, !othersMayWrite else {
            throw ControlSocketError("control socket directory \(directory) belongs to another user or is writable by others")
        }
    }
}
