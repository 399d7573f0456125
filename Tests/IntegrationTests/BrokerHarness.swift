import Foundation
import Testing

/// A real mosquitto broker for one test, on 127.0.0.1 and a free port, with its files in a
/// temporary directory. Started and stopped by pid; `stop()` + `start()` keeps the port, so a
/// test can take the broker away and bring it back.
final class Broker {
    let port: Int
    let directory: URL
    /// Extra lines for the listener (TLS files, `password_file`, …).
    let listenerConfig: String
    let allowAnonymous: Bool
    private(set) var child: ChildProcess?

    /// `persistence` keeps a persistent subscriber's queued messages across a restart.
    init(port: Int? = nil, listenerConfig: String = "", allowAnonymous: Bool = true, persistence: Bool = true) throws {
        self.port = try port ?? Broker.freePort()
        self.directory = try Paths.temporaryDirectory()
        self.listenerConfig = listenerConfig
        self.allowAnonymous = allowAnonymous
        var config = """
        listener \(self.port) 127.0.0.1
        allow_anonymous \(allowAnonymous)
        persistence \(persistence)
        persistence_location \(directory.path)/
        log_dest stderr
        log_type error
        log_type warning
        log_type notice
        log_type information

        """
        // As root, mosquitto would switch to a `mosquitto` user that cannot write our directory.
        if getuid() == 0 { config += "user root\n" }
        config += listenerConfig + "\n"
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        try start()
    }

    var configFile: URL { directory.appendingPathComponent("mosquitto.conf") }
    var url: String { "127.0.0.1:\(port)" }
    var log: String { child?.stderr ?? "" }
    var isRunning: Bool { child?.process.isRunning ?? false }

    func start() throws {
        precondition(!isRunning)
        let process = try ChildProcess(unblockingSignals: "/usr/sbin/mosquitto", ["-c", configFile.path])
        child = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Broker.canConnect(port: port) { return }
            if !process.process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("mosquitto did not start on port \(port): \(process.stderr)")
    }

    /// SIGTERM (the broker saves its persistent sessions), then waits for the pid to exit.
    func stop() {
        child?.stop()
    }

    func remove() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { remove() }

    /// A port the kernel just handed out and released; the broker binds it right after.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

extension ChildProcess {
    /// Starts `executable` with an empty signal mask. The test runner's threads block some
    /// signals and a spawned child inherits that mask; mosquitto restores the inherited mask
    /// around its event loop, so SIGTERM would never reach it (and a "stop" would become a
    /// SIGKILL after 5 s, losing the broker's persistent sessions).
    convenience init(unblockingSignals executable: String, _ arguments: [String]) throws {
        let reset = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"
        try self.init("/usr/bin/python3", ["-c", reset, executable] + arguments)
    }
}

/// `mosquitto_sub` as an independent subscriber: QoS 1, a persistent session under a fixed client
/// id (so messages published while it is disconnected wait for it), one `topic payload` line per
/// message.
final class Subscriber {
    let child: ChildProcess

    init(broker: Broker, topic: String, clientID: String = "it-sub-\(UUID().uuidString.prefix(6))",
         extraArguments: [String] = []) throws {
        child = try ChildProcess(unblockingSignals: "/usr/bin/mosquitto_sub",
                                 ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-v", "-c", "-i", clientID,
                                  "-t", topic] + extraArguments)
        // Give it a moment to subscribe before anything is published.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !broker.log.contains(clientID) { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.2)
    }

    /// Every message so far as (topic, payload).
    var messages: [(topic: String, payload: String)] {
        child.stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// Batch payloads on `topic`, parsed.
    func batches(on topic: String) -> [[String: Any]] {
        messages.filter { $0.topic == topic }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.payload.utf8))) as? [String: Any]
        }
    }

    /// The records of every batch on `topic`, in arrival order.
    func records(on topic: String, key: String = "readings") -> [[String: Any]] {
        batches(on: topic).flatMap { ($0[key] as? [[String: Any]]) ?? [] }
    }

    /// Waits until `predicate` holds for the messages so far.
    func wait(timeout: Double = 20, _ what: String, _ predicate: (Subscriber) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(self) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("timed out waiting for \(what); received \(messages.count) messages: \(child.stdout.suffix(2000)) \(child.stderr)")
    }

    func stop() { child.stop() }
}

/// A throwaway CA and a server certificate for 127.0.0.1, made with `openssl` for one test.
struct TestCertificates {
    let directory: URL
    var caFile: String { directory.appendingPathComponent("ca.crt").path }
    var serverCert: String { directory.appendingPathComponent("server.crt").path }
    var serverKey: String { directory.appendingPathComponent("server.key").path }
    /// A second CA that did not sign the server's certificate.
    var otherCAFile: String { directory.appendingPathComponent("other-ca.crt").path }
    /// A client certificate signed by the CA, for brokers that require one.
    var clientCert: String { directory.appendingPathComponent("client.crt").path }
    var clientKey: String { directory.appendingPathComponent("client.key").path }

    init(in directory: URL) throws {
        self.directory = directory
        let d = directory.path
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try TestCertificates.openssl(["req", "-x509"] + ec + ["-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt", "-days", "2", "-subj", "/CN=MeterAgent test CA"])
        try TestCertificates.openssl(["req", "-x509"] + ec + ["-keyout", "\(d)/other-ca.key", "-out", "\(d)/other-ca.crt", "-days", "2", "-subj", "/CN=Some other CA"])
        try TestCertificates.openssl(["req"] + ec + ["-keyout", "\(d)/server.key", "-out", "\(d)/server.csr", "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        try TestCertificates.openssl(["x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
                                      "-CAcreateserial", "-out", "\(d)/server.crt", "-days", "2", "-extfile", "\(d)/san.ext"])
        try TestCertificates.openssl(["req"] + ec + ["-keyout", "\(d)/client.key", "-out", "\(d)/client.csr", "-subj", "/CN=gw-up"])
        try TestCertificates.openssl(["x509", "-req", "-in", "\(d)/client.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key",
                                      "-CAcreateserial", "-out", "\(d)/client.crt", "-days", "2"])
    }

    private static func openssl(_ arguments: [String]) throws {
        let result = try runCommand("/usr/bin/openssl", arguments, timeout: 30)
        guard result.status == 0 else { throw HarnessError("openssl \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
    }
}
