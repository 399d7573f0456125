#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call while setting up or using a pty, with errno's message.
public struct PseudoTerminalError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// A pseudo-terminal pair (openpty(3)): the simulator keeps the master end, a client (libmodbus, the agent)
/// opens `slavePath` as if it were a serial port.
///
/// The slave end is also kept open here: while no client has it open, Linux reports POLLHUP and
/// EIO on the master, which would make a server loop spin; holding it keeps the line quiet and
/// keeps the raw termios settings in place between clients.
public final class PseudoTerminal: Sendable {
    public let masterFD: Int32
    public let slavePath: String
    private let slaveFD: Int32

    public init() throws(PseudoTerminalError) {
        // openpty(3) is posix_openpt + grantpt + unlockpt + ptsname + open in one call; those
        // four are hidden from Swift's Glibc module (they need _XOPEN_SOURCE).
        var master: Int32 = -1
        var slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw PseudoTerminalError("openpty", code: errno) }
        var name = [CChar](repeating: 0, count: 128)
        let named = ttyname_r(slave, &name, name.count)
        guard named == 0 else {
            close(slave)
            close(master)
            throw PseudoTerminalError("ttyname_r", code: named)
        }
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        var tio = termios()
        tcgetattr(slave, &tio)
        cfmakeraw(&tio)
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        guard tcsetattr(slave, TCSANOW, &tio) == 0 else {
            let code = errno
            close(slave)
            close(master)
            throw PseudoTerminalError("tcsetattr \(path)", code: code)
        }
        // The master is read with poll(); non-blocking reads never stall a server loop.
        let flags = fcntl(master, F_GETFL)
        _ = fcntl(master, F_SETFL, flags | O_NONBLOCK)
        masterFD = master
        slaveFD = slave
        slavePath = path
    }

    deinit {
        close(slaveFD)
        close(masterFD)
    }

    /// The baud rate a client set on the terminal side: termios requests on the master read the
    /// slave's settings. A pty moves bytes at any rate, so a simulated line compares this with
    /// its meters' rates to behave like a real line at the wrong speed. A fresh pty reads 38400;
    /// nil for a speed `SerialPort` does not know.
    public var terminalBaud: Int? {
        var tio = termios()
        guard tcgetattr(masterFD, &tio) == 0 else { return nil }
        return SerialPort.baud(for: cfgetospeed(&tio))
    }

    /// Discards bytes queued in both directions, e.g. left over from a previous client.
    public func flush() {
        tcflush(masterFD, TCIOFLUSH)
        tcflush(slaveFD, TCIOFLUSH)
    }

    /// Reads what is available from the master without blocking: empty when nothing is there.
    public func readAvailable(maxBytes: Int = 512) throws(PseudoTerminalError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maxBytes)
        let n = bytes.withUnsafeMutableBytes { read(masterFD, $0.baseAddress, $0.count) }
        if n < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return [] }
            throw PseudoTerminalError("read \(slavePath)", code: code)
        }
        return Array(bytes.prefix(n))
    }

    /// Writes all of `bytes` to the master (the client reads them from the slave).
    public func write(_ bytes: some Collection<UInt8>) throws(PseudoTerminalError) {
        var pending = Array(bytes)[...]
        while !pending.isEmpty {
            let n = pending.withUnsafeBytes { writeDescriptor(masterFD, $0.baseAddress, $0.count) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    var pfd = pollfd(fd: masterFD, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&pfd, 1, 100)
                    continue
                }
                throw PseudoTerminalError("write \(slavePath)", code: code)
            }
            pending = pending.dropFirst(n)
        }
    }
}

/// libc's write, named apart from `PseudoTerminal.write` so the method can call it on any libc.
private func writeDescriptor(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
