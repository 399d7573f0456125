#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The socket calls of an event-loop TCP client, each wrapped once: an errno comes back as a value,
/// never left for a later call to overwrite.
enum NonBlockingTCP {
    /// Where a connect goes.
    struct Address {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        var family: Int32 { Int32(storage.ss_family) }
    }

    enum Started {
        case connected(Int32)
        /// The handshake goes on; the socket becomes writable when it is done.
        case inProgress(Int32)
    }

    /// A numeric IPv4 or IPv6 address is parsed at once; a host name goes through getaddrinfo,
    /// which blocks the calling thread for the lookup (a configured name costs the shared loop
    /// that moment on each connect, not on each transaction). The first address found is used.
    static func resolve(host: String, port: Int) -> Result<Address, ResolveError> {
        var address = Address()
        var ipv4 = in_addr(), ipv6 = in6_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
            sin.sin_addr = ipv4
            store(&address, sin)
            return .success(address)
        }
        if inet_pton(AF_INET6, host, &ipv6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(truncatingIfNeeded: port).bigEndian
            sin6.sin6_addr = ipv6
            store(&address, sin6)
            return .success(address)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list, let found = list.pointee.ai_addr else {
            return .failure(ResolveError(message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        address.length = list.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &address.storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: found, count: Int(address.length)))
        }
        return .success(address)
    }

    private static func store<T>(_ address: inout Address, _ value: T) {
        withUnsafeMutableBytes(of: &address.storage) { target in
            withUnsafeBytes(of: value) { target.copyMemory(from: $0) }
        }
        address.length = socklen_t(MemoryLayout<T>.size)
    }

    /// Starts a connect without waiting for it; the errno on failure.
    static func startConnect(_ address: Address) -> Result<Started, Errno> {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        var address = address
        let result = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
        }
        if result == 0 { return .success(.connected(fd)) }
        let code = errno
        if code == EINPROGRESS { return .success(.inProgress(fd)) }
        close(fd)
        return .failure(Errno(code))
    }

    /// After the socket of a connect in progress became writable: 0 when connected, else its errno.
    static func connectResult(_ fd: Int32) -> Int32 {
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length) != 0 { return errno }
        return soError
    }

    /// Modbus requests are small and answered one at a time: Nagle would hold each back.
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// getaddrinfo's message.
    struct ResolveError: Error {
        let message: String
    }

    struct Errno: Error {
        let code: Int32
        init(_ code: Int32) { self.code = code }
    }

    enum Transfer {
        case bytes(Int)
        case wouldBlock
        /// The peer closed the connection (a read of 0 bytes).
        case closed
        case failed(Int32)
    }

    static func sendSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Transfer {
        while true {
            // MSG_NOSIGNAL: a peer gone away is an EPIPE for this endpoint, not a SIGPIPE for the process.
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            let code = errno
            if code == EINTR { continue }
            return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock : .failed(code)
        }
    }

    static func receiveSome(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            let code = errno
            if code == EINTR { continue }
            return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock : .failed(code)
        }
    }
}
