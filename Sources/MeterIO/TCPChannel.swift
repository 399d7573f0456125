import MeterCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A TCP connection carrying a serial protocol as raw bytes (a serial-to-Ethernet converter, or
/// the PyPI `dlt645` meter simulator). The one owner of its socket; closes it in `deinit`.
public final class TCPChannel: ByteChannel {
    public let endpoint: String
    private let fd: Int32

    /// Connects within `timeoutMs`; numeric and named hosts both work (getaddrinfo).
    public init(host: String, port: Int, timeoutMs: Int) throws(SerialPortError) {
        let name = "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw SerialPortError("resolve", endpoint: name, code: 0, detail: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var lastError = SerialPortError("connect", endpoint: name, code: ECONNREFUSED)
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let info = entry {
            entry = info.pointee.ai_next
            let s = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard s >= 0 else { lastError = SerialPortError("socket", endpoint: name, code: errno); continue }
            if connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                let code = errno
                guard code == EINPROGRESS else {
                    close(s)
                    lastError = SerialPortError("connect", endpoint: name, code: code)
                    continue
                }
                var pfd = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, Int32(clamping: max(1, timeoutMs))) <= 0 {
                    close(s)
                    lastError = SerialPortError("connect", endpoint: name, code: ETIMEDOUT)
                    continue
                }
                let result = NonBlockingTCP.connectResult(s)
                if result != 0 {
                    close(s)
                    lastError = SerialPortError("connect", endpoint: name, code: result)
                    continue
                }
            }
            NonBlockingTCP.setNoDelay(s)
            fd = s
            endpoint = name
            return
        }
        throw lastError
    }

    deinit { close(fd) }

    public func write(_ bytes: [UInt8]) throws(SerialPortError) {
        try DescriptorIO.writeAll(fd, bytes, endpoint: endpoint)
    }

    public func read(maxBytes: Int, timeoutMs: Int) throws(SerialPortError) -> [UInt8] {
        try DescriptorIO.read(fd, maxBytes: maxBytes, timeoutMs: timeoutMs, endpoint: endpoint)
    }

    public func discardInput() { DescriptorIO.drain(fd) }

    public func drainOutput() {}
}
