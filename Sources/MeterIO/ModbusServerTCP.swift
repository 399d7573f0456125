import CModbus
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Modbus TCP listening socket made by libmodbus (`modbus_new_tcp` + `modbus_tcp_listen`).
/// Port 0 lets the kernel pick a free port; `port` tells which.
///
/// `@unchecked Sendable`: it is built on one thread and then handed to the one serving thread
/// that calls `accept()`; the descriptor and port never change, and no two threads use it at once.
public final class ModbusTCPListener: @unchecked Sendable {
    private let context: OpaquePointer
    public let socketFD: Int32
    public let host: String
    public let port: Int

    public init(host: String = "127.0.0.1", port: Int, backlog: Int = 16) throws(ModbusServerError) {
        guard let context = modbus_new_tcp(host, Int32(port)) else {
            throw ModbusServerError("modbus_new_tcp \(host):\(port)", code: errno)
        }
        let fd = modbus_tcp_listen(context, Int32(backlog))
        guard fd >= 0 else {
            let code = errno
            modbus_free(context)
            throw ModbusServerError("listen on \(host):\(port)", code: code)
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.context = context
        self.socketFD = fd
        self.host = host
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    private var isClosed = false

    deinit {
        // modbus_tcp_accept leaves the last client socket in the context; that one belongs to
        // the caller, so detach it before modbus_free can close it.
        modbus_set_socket(context, -1)
        modbus_free(context)
        close()
    }

    /// Stops listening: new connections are refused from now on. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        closeDescriptor(socketFD)
    }

    /// Accepts one client (blocks if none is pending: poll `socketFD` first). The caller owns the
    /// returned descriptor.
    public func accept() throws(ModbusServerError) -> Int32 {
        var listening = socketFD
        let client = modbus_tcp_accept(context, &listening)
        guard client >= 0 else { throw ModbusServerError("accept on \(host):\(port)", code: errno) }
        modbus_set_socket(context, -1)
        return client
    }
}

/// libc's close, named apart from `ModbusTCPListener.close`.
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
