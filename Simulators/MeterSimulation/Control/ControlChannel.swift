import Foundation
import MeterCore
import MeterProtocols
import Synchronization

/// Run-time commands, one per line, each answered with `ok` or `error: …` (after any output lines):
///
///     fault LINE UNIT FAULT VALUE    fault rs485-1 20 no_reply on | delay_ms 800 | exception 4
///     fault LINE UNIT clear          removes every fault
///     set LINE UNIT POINT VALUE      pins a value (power.active.total, flow.rate, valve.state…)
///     release LINE UNIT POINT        lets the physics drive it again
///     raise LINE UNIT CONDITION      leak | tamper | valve_fault | battery_low | clock_battery_low:
///                                    served as the meter's status bit, discrete input or counter
///     clear LINE UNIT CONDITION      the condition goes away (a cover-open count stays counted)
///     state LINE UNIT                point=value lines for the profile's points, then the
///                                    settings `commission` wrote (settings.unit_id=7)
///     restart LINE UNIT              switched off and on: settings waiting for a restart apply
///     list                           LINE UNIT PROFILE lines
///     card LINE UID [SECONDS]        a card (hex UID: 5 bytes EM4100, 4/7/10 bytes ISO 14443-A)
///                                    in a reader's field for SECONDS (default 1; 0: until removed)
///     card LINE remove               the card leaves the field
///     garbage LINE [COUNT]           COUNT bytes (default 16) that form no frame
///     corrupt LINE                   the reader's next frame has a wrong checksum
///     unplug LINE | plug LINE        the reader's pty closes | comes back (the link follows)
///     quit                           stops the simulator
///
/// LINE is a line id or a TCP port's id (`tcp-15020`, or the port number).
public struct ControlInterpreter: Sendable {
    let simulator: Simulator

    public init(simulator: Simulator) { self.simulator = simulator }

    /// The reply lines for one command line; the last is `ok` or `error: …`.
    public func execute(_ line: String) -> [String] {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { return ["error: empty command"] }
        switch verb {
        case "quit", "exit":
            simulator.requestQuit()
            return ["ok"]
        case "list":
            return simulator.servers.flatMap(\.listing) + ["ok"]
        case "fault", "set", "release", "state", "raise", "clear", "restart":
            // UNIT may also be a meter address on a DL/T 645 or CJ/T 188 line.
            guard words.count >= 3 else {
                return ["error: usage: \(verb) LINE UNIT …"]
            }
            guard let device = simulator.device(endpoint: words[1], key: words[2]) else {
                return ["error: no device \(words[1]) \(words[2])"]
            }
            return deviceCommand(verb, Array(words.dropFirst(3)), device)
        case "card", "garbage", "corrupt", "unplug", "plug":
            guard words.count >= 2 else { return ["error: usage: \(verb) LINE …"] }
            guard let reader = simulator.servers.first(where: { $0.isNamed(words[1]) }) else {
                return ["error: no line \(words[1])"]
            }
            guard let reader = reader as? any CardReaderServer else { return ["error: line \(words[1]) is no card reader"] }
            return readerCommand(verb, Array(words.dropFirst(2)), reader)
        default:
            return ["error: unknown command '\(verb)' (expected fault, set, release, raise, clear, state, restart, card, garbage, corrupt, unplug, plug, list, quit)"]
        }
    }

    private func readerCommand(_ verb: String, _ args: [String], _ reader: any CardReaderServer) -> [String] {
        switch verb {
        case "card":
            if args == ["remove"] {
                reader.removeCard()
                return ["ok"]
            }
            guard args.count == 1 || args.count == 2, let uid = Hex.parse(args[0]), !uid.isEmpty,
                  let seconds = args.count == 2 ? Double(args[1]) : 1, seconds >= 0 else {
                return ["error: usage: card LINE UID [SECONDS] | card LINE remove"]
            }
            if let refused = reader.present(uid, seconds: seconds == 0 ? nil : seconds) { return ["error: \(refused)"] }
            return ["ok"]
        case "garbage":
            guard args.count <= 1, let count = args.first.map({ Int($0) }) ?? 16, (1...4096).contains(count) else {
                return ["error: usage: garbage LINE [COUNT 1–4096]"]
            }
            reader.sendGarbage(count)
            return ["ok"]
        case "corrupt":
            reader.corruptNextFrame()
            return ["ok"]
        case "unplug":
            reader.unplug()
            // The closed pty's number goes to the next process that opens one: the link must not
            // lead a client to a stranger's terminal.
            simulator.unlinkLine(reader.id)
            return ["ok"]
        default: // plug
            do {
                let path = try reader.plugIn()
                try simulator.relink(reader.id, to: path)
                return ["line \(reader.id) \(path)", "ok"]
            } catch {
                return ["error: \(error)"]
            }
        }
    }

    private func deviceCommand(_ verb: String, _ args: [String], _ device: SimulatedDevice) -> [String] {
        switch verb {
        case "fault":
            if args == ["clear"] {
                device.setFaults(DeviceFaults())
                return ["ok"]
            }
            guard args.count == 2 else { return ["error: usage: fault LINE UNIT FAULT VALUE | fault LINE UNIT clear"] }
            do {
                try device.updateFaults { (faults: inout DeviceFaults) throws(DeviceFaults.SetError) in try faults.set(args[0], to: args[1]) }
            } catch { return ["error: \(error)"] }
            return ["ok"]
        case "set":
            guard args.count == 2, let value = Double(args[1]) else { return ["error: usage: set LINE UNIT POINT VALUE"] }
            device.set(args[0], to: value)
            return ["ok"]
        case "release":
            guard args.count == 1 else { return ["error: usage: release LINE UNIT POINT"] }
            device.set(args[0], to: nil)
            return ["ok"]
        case "raise", "clear":
            let names = MeterCondition.allCases.map(\.rawValue).joined(separator: " | ")
            guard args.count == 1 else { return ["error: usage: \(verb) LINE UNIT \(names)"] }
            guard let condition = MeterCondition(rawValue: args[0]) else {
                return ["error: unknown condition '\(args[0])' (expected one of: \(names))"]
            }
            device.setCondition(condition, raised: verb == "raise")
            return ["ok"]
        case "restart":
            device.restart()
            return ["ok"]
        default: // state
            let values = device.pointValues()
            let conditions = device.raisedConditions.map(\.rawValue)
            // The physical relay and valve too where the profile switches them but reads them
            // only as status bits.
            let switches = [("relay.state", CommandAction.relayOpen), ("valve.state", .valveClose)].compactMap { name, action in
                device.profile.actions[action] != nil && !device.profile.pointNames.contains(PointName(name))
                    && device.value(of: name) != nil ? name : nil
            }
            return device.profile.pointNames.map { "\($0)=\(values[$0] ?? 0)" } + switches.map { "\($0)=\(device.value(of: $0)!)" }
                + device.commissionedSettings
                + ["faults=\(device.faults)", "conditions=\(conditions.isEmpty ? "none" : conditions.joined(separator: " "))", "ok"]
        }
    }
}

/// The control socket: a unix stream socket, several clients at once, one thread.
final class ControlChannel: Sendable {
    let path: String
    private let listenFD: Int32
    private let wake = WakePipe()
    private let thread = Mutex<DedicatedThread?>(nil)
    static let maxLine = 4096
    static let maxClients = 8

    /// Binds the socket now (so a clash is found before anything else is touched); serving
    /// starts with `start(_:)`.
    init(path: String) throws(SimulatorError) {
        self.path = path
        let directory = ScenarioLoader.directory(of: path)
        if directory != "." { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SimulatorError("control socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SimulatorError("control socket: \(String(cString: strerror(errno)))") }
        // A socket file left by a killed run would make bind() fail; one that still answers
        // belongs to a running simulator and is left alone.
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK {
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let live = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            } == 0
            close(probe)
            if live {
                close(fd)
                throw SimulatorError("control socket \(path) is in use by another simulator")
            }
            unlink(path)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw SimulatorError("control socket \(path): \(message)")
        }
        listenFD = fd
    }

    private let removed = Mutex(false)

    deinit {
        close(listenFD)
        removeSocketFile()
    }

    /// The socket file goes with the channel, once, whether or not it was ever started.
    private func removeSocketFile() {
        if removed.withLock({ r -> Bool in defer { r = true }; return !r }) { unlink(path) }
    }

    func start(_ interpreter: ControlInterpreter) throws(SimulatorError) {
        let serving: DedicatedThread
        do { serving = try DedicatedThread(stackBytes: 512 * 1024) { [self] in self.serve(interpreter) } } catch { throw SimulatorError("\(error)") }
        thread.withLock { $0 = serving }
    }

    func stop() {
        wake.signal()
        thread.withLock { $0 }?.join(timeoutMs: 5000)
        removeSocketFile()
    }

    private func serve(_ interpreter: ControlInterpreter) {
        var clients: [Int32: [UInt8]] = [:]
        defer { for fd in clients.keys { close(fd) } }
        while true {
            let order = clients.keys.sorted()
            var fds = [pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
                + order.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents != 0 { return }
            if fds[1].revents != 0 {
                let client = accept(listenFD, nil, nil)
                if client >= 0 {
                    if clients.count >= Self.maxClients { close(client) } else { clients[client] = [] }
                }
            }
            for (i, fd) in order.enumerated() where fds[i + 2].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 1024)
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard n > 0 else { close(fd); clients[fd] = nil; continue }
                var buffer = clients[fd, default: []] + chunk.prefix(n)
                var open = true
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let text = String(decoding: buffer[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    buffer.removeSubrange(...newline)
                    if text.isEmpty { continue }
                    let reply = interpreter.execute(text).joined(separator: "\n") + "\n"
                    let data = Array(reply.utf8)
                    if data.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) < 0 { open = false; break }
                }
                if buffer.count > Self.maxLine { open = false }
                if open { clients[fd] = buffer } else { close(fd); clients[fd] = nil }
            }
        }
    }
}
