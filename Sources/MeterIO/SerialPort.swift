import MeterCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call on a serial port or socket, with errno's message and the path or endpoint.
public struct SerialPortError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var endpoint: String
    /// errno, or 0 for a failure that is not a system error (unsupported baud rate, unknown host).
    public var code: Int32
    public var detail: String

    public init(_ operation: String, endpoint: String, code: Int32, detail: String = "") {
        self.operation = operation
        self.endpoint = endpoint
        self.code = code
        self.detail = detail
    }

    public var description: String {
        let reason = code != 0 ? String(cString: strerror(code)) : detail
        return "\(operation) \(endpoint): \(reason)"
    }
}

/// A byte pipe to meters: a serial port or a TCP connection. Blocking; used from one bus thread.
public protocol ByteChannel: AnyObject {
    /// The device path or `host:port`, for messages.
    var endpoint: String { get }
    /// Writes every byte (waiting for the port to take them).
    func write(_ bytes: [UInt8]) throws(SerialPortError)
    /// Waits up to `timeoutMs` for bytes and returns what is there (at most `maxBytes`); empty
    /// when nothing arrived in time.
    func read(maxBytes: Int, timeoutMs: Int) throws(SerialPortError) -> [UInt8]
    /// Drops bytes received but not read (late replies of a failed transaction).
    func discardInput()
    /// Blocks until written bytes have left the port (no-op for sockets).
    func drainOutput()
}

/// One termios serial port — real UART, USB adapter or pty alike — in raw mode, for the byte-oriented
/// protocols (DL/T 645, CJ/T 188). Modbus RTU goes through libmodbus instead.
///
/// The one owner of its file descriptor; closes it in `deinit`. Not thread-safe: it lives on the
/// thread of one `SerialLineBus`.
public final class SerialPort: ByteChannel {
    public let endpoint: String
    public let settings: SerialSettings
    /// Problems that did not stop the port from opening (e.g. no kernel RS-485 mode).
    public private(set) var notes: [String] = []
    private let fd: Int32

    /// Opens `port` (a path, or `usb:VID:PID[:SERIAL]` resolved among plugged-in adapters) without
    /// becoming its controlling terminal, sets raw mode and the line settings, and drops whatever
    /// bytes were waiting (a reused pty can hold a previous client's leftovers).
    /// `rs485` asks the kernel driver to switch the transmitter (TIOCSRS485, RTS on send); a port
    /// that cannot (a pty, most USB adapters, which switch by themselves) opens anyway, with a note.
    public init(port: String, settings: SerialSettings, rs485: Bool = false) throws(SerialPortError) {
        let path: String
        do {
            path = try SerialPortScanner.resolve(port)
        } catch {
            throw SerialPortError("resolve", endpoint: port, code: 0, detail: error.description)
        }
        guard let speed = Self.speed(for: settings.baud) else {
            throw SerialPortError("configure", endpoint: path, code: 0, detail: "unsupported baud rate \(settings.baud)")
        }
        let descriptor = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw SerialPortError("open", endpoint: path, code: errno) }
        var tio = termios()
        guard tcgetattr(descriptor, &tio) == 0 else {
            let code = errno
            close(descriptor)
            throw SerialPortError("tcgetattr", endpoint: path, code: code)
        }
        cfmakeraw(&tio)
        tio.c_cflag &= ~tcflag_t(CSIZE | PARENB | PARODD | CSTOPB)
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        switch settings.dataBits {
        case 5: tio.c_cflag |= tcflag_t(CS5)
        case 6: tio.c_cflag |= tcflag_t(CS6)
        case 7: tio.c_cflag |= tcflag_t(CS7)
        default: tio.c_cflag |= tcflag_t(CS8)
        }
        switch settings.parity {
        case .none: break
        case .even: tio.c_cflag |= tcflag_t(PARENB)
        case .odd: tio.c_cflag |= tcflag_t(PARENB | PARODD)
        }
        if settings.stopBits == 2 { tio.c_cflag |= tcflag_t(CSTOPB) }
        // Reads never block in the kernel: poll() does the waiting, with our timeout.
        withUnsafeMutableBytes(of: &tio.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        cfsetispeed(&tio, speed)
        cfsetospeed(&tio, speed)
        guard tcsetattr(descriptor, TCSANOW, &tio) == 0 else {
            let code = errno
            close(descriptor)
            throw SerialPortError("tcsetattr", endpoint: path, code: code)
        }
        tcflush(descriptor, TCIOFLUSH)
        fd = descriptor
        endpoint = path
        self.settings = settings
        if rs485, let problem = Self.enableRS485(descriptor) {
            notes.append("\(path) does not support RS-485 mode (\(problem)); continuing in RS-232 mode, direction control must be automatic")
        }
    }

    /// `struct serial_rs485` of <linux/serial.h> (32 bytes), which Glibc's module does not export.
    private struct SerialRS485 {
        var flags: UInt32 = 0
        var delayRTSBeforeSend: UInt32 = 0
        var delayRTSAfterSend: UInt32 = 0
        var padding: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
    }

    /// Turns on kernel RS-485 mode; returns why not, or nil on success.
    private static func enableRS485(_ fd: Int32) -> String? {
        let tiocsrs485: UInt = 0x542F
        let enabled: UInt32 = 1 << 0, rtsOnSend: UInt32 = 1 << 1
        var config = SerialRS485(flags: enabled | rtsOnSend)
        let result = withUnsafeMutablePointer(to: &config) { ioctl(fd, tiocsrs485, $0) }
        return result == 0 ? nil : String(cString: strerror(errno))
    }

    deinit { close(fd) }

    public func write(_ bytes: [UInt8]) throws(SerialPortError) {
        try DescriptorIO.writeAll(fd, bytes, endpoint: endpoint)
    }

    public func read(maxBytes: Int, timeoutMs: Int) throws(SerialPortError) -> [UInt8] {
        try DescriptorIO.read(fd, maxBytes: maxBytes, timeoutMs: timeoutMs, endpoint: endpoint)
    }

    public func discardInput() { tcflush(fd, TCIFLUSH) }

    public func drainOutput() { tcdrain(fd) }

    static func speed(for baud: Int) -> speed_t? {
        switch baud {
        case 300: speed_t(B300)
        case 600: speed_t(B600)
        case 1200: speed_t(B1200)
        case 2400: speed_t(B2400)
        case 4800: speed_t(B4800)
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115200: speed_t(B115200)
        case 230400: speed_t(B230400)
        default: nil
        }
    }

    /// The baud rate of a termios speed constant, among those `speed(for:)` knows.
    static func baud(for speed: speed_t) -> Int? {
        knownBauds.first { Self.speed(for: $0) == speed }
    }

    static let knownBauds = [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400]
}

/// read/write/poll on a descriptor, shared by the serial port, the TCP channel and the agent's
/// stdout/stderr.
public enum DescriptorIO {
    /// Writes all of `bytes`, retrying on EINTR and waiting out EAGAIN.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], endpoint: String) throws(SerialPortError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&pfd, 1, 1000)
                    continue
                }
                throw SerialPortError("write", endpoint: endpoint, code: code)
            }
            offset += n
        }
    }

    static func read(_ fd: Int32, maxBytes: Int, timeoutMs: Int, endpoint: String) throws(SerialPortError) -> [UInt8] {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(clamping: max(0, timeoutMs)))
        if ready < 0 {
            let code = errno
            if code == EINTR { return [] }
            throw SerialPortError("poll", endpoint: endpoint, code: code)
        }
        if ready == 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: max(1, maxBytes))
        let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return [] }
            throw SerialPortError("read", endpoint: endpoint, code: code)
        }
        if n == 0 {
            // End of file: the peer closed the socket, or the pty's other side went away.
            throw SerialPortError("read", endpoint: endpoint, code: 0, detail: "connection closed by peer")
        }
        return Array(buffer.prefix(n))
    }

    /// Reads and drops whatever is ready now.
    static func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 512)
        for _ in 0..<64 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) > 0 else { return }
            let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
        }
    }
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
