import Foundation
import MeterCore
import MeterIO
import MeterProtocols
import Synchronization

/// Modbus TCP devices behind one listening port on 127.0.0.1, like a meter with an Ethernet
/// interface or a small gateway. One thread serves every client of the port with poll().
///
/// Unit ids: a request for a unit not behind this port is answered with exception 0x0B
/// (gateway target device failed to respond), as a Modbus TCP gateway does; unit 0 and 255,
/// which TCP clients use to mean "the device itself", reach the device when the port has only one.
/// A `delay_ms` fault holds up the other clients of the same port too (one thread per port).
public final class TCPDeviceServer: LineServer {
    public let id: String
    public let devices: [SimulatedDevice]
    public let listener: ModbusTCPListener
    let seed: UInt64
    static let maxClients = 32
    private let wake = WakePipe()
    private let thread = Mutex<DedicatedThread?>(nil)

    public init(id: String?, port: Int, devices: [SimulatedDevice], seed: UInt64 = 1) throws(ModbusServerError) {
        listener = try ModbusTCPListener(host: "127.0.0.1", port: port)
        self.id = id ?? "tcp-\(listener.port)"
        self.devices = devices
        self.seed = seed
    }

    /// The server for the scenario's `index`-th TCP entry.
    static func make(_ spec: ScenarioTCPPort, index: Int, builder: DeviceBuilder) throws(SimulatorError) -> TCPDeviceServer {
        let endpoint = spec.id ?? "tcp-\(spec.port == 0 ? index : spec.port)"
        let devices = try builder.devices(spec.devices, on: endpoint)
        do {
            return try TCPDeviceServer(id: spec.id, port: spec.port, devices: devices, seed: builder.seed(for: endpoint))
        } catch { throw SimulatorError("tcp port \(spec.port): \(error)") }
    }

    public var port: Int { listener.port }
    public var linkTarget: String? { nil }
    public var announcement: String { "tcp \(port) units " + devices.map { String($0.unit.rawValue) }.joined(separator: ",") }

    /// Its id, its port number, or `tcp-<port>`.
    public func isNamed(_ endpoint: String) -> Bool { endpoint == id || endpoint == String(port) || endpoint == "tcp-\(port)" }

    public func start() throws(SimulatorError) {
        let box: UncheckedBox<ModbusResponder>
        do { box = UncheckedBox(try ModbusResponder(framing: .tcp, devices: devices, seed: seed)) } catch { throw SimulatorError("\(error)") }
        let serving: DedicatedThread
        do { serving = try DedicatedThread(stackBytes: 512 * 1024) { [self] in self.serve(box.take()) } } catch { throw SimulatorError("\(error)") }
        thread.withLock { $0 = serving }
    }

    public func stop() {
        wake.signal()
        thread.withLock { $0 }?.join(timeoutMs: 5000)
    }

    private func serve(_ responder: ModbusResponder) {
        var buffers: [Int32: [UInt8]] = [:]
        defer {
            for fd in buffers.keys { close(fd) }
            listener.close()
        }
        while true {
            var fds = [pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listener.socketFD, events: Int16(POLLIN), revents: 0)]
            let clients = buffers.keys.sorted()
            fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), -1)
            if rc < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents != 0 { return }
            if fds[1].revents & Int16(POLLIN) != 0, let client = try? listener.accept() {
                if buffers.count >= Self.maxClients {
                    close(client) // bounded: refuse rather than queue without limit
                } else {
                    _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                    buffers[client] = []
                }
            }
            for (i, fd) in clients.enumerated() where fds[i + 2].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 1024)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                    close(fd)
                    buffers[fd] = nil
                    continue
                }
                guard n > 0 else { continue }
                buffers[fd, default: []].append(contentsOf: chunk.prefix(n))
                if !serveBuffered(fd, buffers: &buffers, responder: responder) {
                    close(fd)
                    buffers[fd] = nil
                }
                if wake.isSignalled { return }
            }
        }
    }

    /// Answers every whole MBAP frame in the client's buffer; false means drop the connection.
    private func serveBuffered(_ fd: Int32, buffers: inout [Int32: [UInt8]], responder: ModbusResponder) -> Bool {
        while var buffer = buffers[fd], buffer.count >= 7 {
            let protocolID = Int(buffer[2]) << 8 | Int(buffer[3])
            let length = Int(buffer[4]) << 8 | Int(buffer[5])
            // Length covers unit id + PDU; a PDU is at most 253 bytes.
            guard protocolID == 0, (2...254).contains(length) else { return false }
            guard buffer.count >= 6 + length else { return true }
            let adu = Array(buffer[0..<(6 + length)])
            buffer.removeFirst(6 + length)
            buffers[fd] = buffer
            let unit = adu[6]
            var target = unit
            if device(unit: unit) == nil, devices.count == 1, unit == 0 || unit == 255 { target = devices[0].unit.rawValue }
            let reply: PlannedReply?
            if device(unit: target) != nil {
                reply = responder.respond(to: adu, unit: target, pdu: adu[7...])
            } else {
                reply = responder.gatewayTargetFailed(adu).map { PlannedReply(bytes: $0, delayMs: 0) }
            }
            guard let reply else { continue }
            if reply.delayMs > 0, !wake.sleep(Double(reply.delayMs) / 1000) { return false }
            guard send(all: reply.bytes, to: fd) else { return false }
        }
        return true
    }

    private func send(all bytes: [UInt8], to fd: Int32) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0, errno == EAGAIN || errno == EINTR {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, 1000) <= 0 { return false }
                continue
            }
            return false
        }
        return true
    }
}
