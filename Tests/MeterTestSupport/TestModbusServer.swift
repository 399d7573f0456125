import CModbus
import Foundation
import MeterCore
import Synchronization

/// A tiny Modbus TCP server built directly on libmodbus's server side, so the client path is checked
/// against code we did not write. Listens on 127.0.0.1 on an ephemeral port, serves one connection at
/// a time on a background thread, and stays silent for the units in `silentUnits`.
///
/// `@unchecked Sendable`: the libmodbus context and mapping are touched only by the server thread
/// after `start()`; the test thread only reads the fixed `port` and, under `state`'s lock, the socket
/// numbers it shuts down in `stop()` (shutdown(2) on another thread's socket is safe and is what unblocks it).
public final class TestModbusServer: @unchecked Sendable {
    public let port: UInt16
    private let context: OpaquePointer
    private let mapping: UnsafeMutablePointer<modbus_mapping_t>
    private let listenSocket: Int32
    private let silentUnits: Set<UInt8>
    private let state = Mutex(State())
    private let thread = Mutex<DedicatedThread?>(nil)
    /// Held while the server thread answers and while a test changes the registers, so that a
    /// reply never shows half a change.
    private let registers = Mutex(())

    private struct State {
        var clientSocket: Int32 = -1
        var stopping = false
        var accepted = 0
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Maps coils 0..<64, discrete inputs 0..<64, holding 0..<100 and input registers 0..<100;
    /// anything above answers exception 2 (illegal data address).
    public init(holding: [UInt16: UInt16] = [:], input: [UInt16: UInt16] = [:], coils: [UInt16: Bool] = [:],
         silentUnits: Set<UInt8> = []) throws {
        guard let ctx = modbus_new_tcp("127.0.0.1", 0) else { throw SetupError(description: "modbus_new_tcp failed") }
        guard let map = modbus_mapping_new(64, 64, 100, 100) else {
            modbus_free(ctx)
            throw SetupError(description: "modbus_mapping_new failed")
        }
        for (address, value) in holding { map.pointee.tab_registers[Int(address)] = value }
        for (address, value) in input { map.pointee.tab_input_registers[Int(address)] = value }
        for (address, value) in coils { map.pointee.tab_bits[Int(address)] = value ? 1 : 0 }
        let socket = modbus_tcp_listen(ctx, 1)
        guard socket >= 0 else {
            let code = errno
            modbus_mapping_free(map)
            modbus_free(ctx)
            throw SetupError(description: "modbus_tcp_listen: \(String(cString: modbus_strerror(code)))")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        context = ctx
        mapping = map
        listenSocket = socket
        self.silentUnits = silentUnits
    }

    public func start() throws(ThreadStartError) {
        let serving = try DedicatedThread { [self] in serve() }
        thread.withLock { $0 = serving }
    }

    /// Unblocks the server thread, waits (bounded) for it to end, and frees everything.
    public func stop() {
        let client = state.withLock { s in
            s.stopping = true
            return s.clientSocket
        }
        shutdown(listenSocket, Int32(SHUT_RDWR))
        if client >= 0 { shutdown(client, Int32(SHUT_RDWR)) }
        // Never started: no thread uses the context.
        let ended = thread.withLock { $0 }?.join(timeoutMs: 5000) ?? true
        Foundation.close(listenSocket)
        if ended {
            // Not modbus_close: it would close the last accepted socket a second time.
            modbus_mapping_free(mapping)
            modbus_free(context)
        }
    }

    /// Hangs up on the current client, as servers do with idle connections; the server then waits
    /// for the next connection.
    public func dropClient() {
        let client = state.withLock { $0.clientSocket }
        if client >= 0 { shutdown(client, Int32(SHUT_RDWR)) }
    }

    /// Changes input registers while the server runs (a meter's energy register moving on).
    public func setInput(_ values: [UInt16: UInt16]) {
        registers.withLock { _ in
            for (address, value) in values { mapping.pointee.tab_input_registers[Int(address)] = value }
        }
    }

    /// A coil as the server holds it now (what a relay write left).
    public func coil(_ address: UInt16) -> Bool {
        registers.withLock { _ in mapping.pointee.tab_bits[Int(address)] != 0 }
    }

    /// Connections accepted so far.
    public var acceptedConnections: Int { state.withLock { $0.accepted } }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func serve() {
        var listening = listenSocket
        let headerLength = Int(modbus_get_header_length(context))
        var query = [UInt8](repeating: 0, count: 260) // MODBUS_TCP_MAX_ADU_LENGTH
        while !isStopping {
            let client = modbus_tcp_accept(context, &listening)
            guard client >= 0 else { return }
            let stop = state.withLock { s in
                s.clientSocket = client
                s.accepted += 1
                return s.stopping
            }
            if stop { return }
            while true {
                let received = query.withUnsafeMutableBufferPointer { modbus_receive(context, $0.baseAddress) }
                if received < 0 { break }
                if received == 0 { continue }
                // The unit id is the last byte of the MBAP header.
                if silentUnits.contains(query[headerLength - 1]) { continue }
                registers.withLock { _ in
                    _ = query.withUnsafeBufferPointer { modbus_reply(context, $0.baseAddress, received, mapping) }
                }
            }
            Foundation.close(client)
            state.withLock { $0.clientSocket = -1 }
        }
    }
}

/// A TCP listener that completes connections (the kernel's backlog does) but never reads or answers:
/// every Modbus request sent to it times out, which keeps a bus thread busy on demand.
public final class SilentListener {
    public let port: UInt16
    private let socket: Int32

    public init() throws {
        let fd = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestModbusServer.SetupError(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            Foundation.close(fd)
            throw TestModbusServer.SetupError(description: "bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        socket = fd
    }

    public func close() { Foundation.close(socket) }
}
