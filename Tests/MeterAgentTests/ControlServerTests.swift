import Foundation
import Glibc
import MeterAgent
import MeterCore
import Testing

/// The agent's control socket (issue 13, `meteragent status`): one JSON line in, one out, owner
/// only, a stale file replaced, a live one refused.
@Suite(.timeLimit(.minutes(1)))
struct ControlServerTests {
    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    @Test func answersByNameWithOwnerOnlyModeAndRemovesItsFile() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The directory is made (0700) when missing.
        let path = dir + "/run/control.sock"
        let server = try await ControlServer.claim(path: path, log: .silent)
        server.handle("echo") { request in
            "{\"ok\":true,\"text\":" + JSONWriter.quoted("said: " + (request.string("say") ?? "-")) + "}"
        }
        try server.start()

        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(lstat(dir + "/run", &info) == 0 && info.st_mode & 0o777 == 0o700)

        let reply = try await ControlClient.send(path: path, request: "{\"request\":\"echo\",\"say\":\"line one\\nline two\"}")
        #expect(reply.ok)
        #expect(reply.string("text") == "said: line one\nline two")

        let unknown = try await ControlClient.send(path: path, request: "{\"request\":\"reboot\"}")
        #expect(!unknown.ok)
        #expect(unknown.string("error") == "unknown request 'reboot' (this agent answers: echo)")
        let garbage = try await ControlClient.send(path: path, request: "status please")
        #expect(!garbage.ok && garbage.string("error")?.contains("not a JSON object") == true, "\(garbage.line)")

        // A second agent on the same path is refused while this one answers.
        do throws(ControlSocketError) {
            _ = try await ControlServer.claim(path: path, log: .silent)
            Issue.record("a second server took a socket that answers")
        } catch {
            #expect(error.inUse)
        }

        await server.stop()
        #expect(lstat(path, &info) != 0, "the socket file is removed at stop")
        do throws(ControlClientError) {
            _ = try await ControlClient.send(path: path, request: "{\"request\":\"echo\"}")
            Issue.record("an answer from a stopped server")
        } catch {
            #expect(error.noAgent)
            #expect(error.description == "no agent is listening on \(path) — is meteragent running?")
        }
    }

    @Test func aStaleSocketFileIsReplacedAndASlowHandlerTimesOut() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/control.sock"
        // What a killed agent leaves: a socket file nobody listens on.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(stale)
        do throws(ControlClientError) {
            _ = try await ControlClient.send(path: path, request: "{\"request\":\"status\"}")
            Issue.record("an answer from a stale socket")
        } catch {
            #expect(error.noAgent)
        }

        let server = try await ControlServer.claim(path: path, log: .silent)
        server.handle("slow", timeoutMs: 200) { _ in
            try? await Task.sleep(for: .seconds(2))
            return "{\"ok\":true}"
        }
        server.handle("fast") { _ in "{\"ok\":true}" }
        try server.start()
        let slow = try await ControlClient.send(path: path, request: "{\"request\":\"slow\"}")
        #expect(slow.string("error") == "'slow' did not finish within 200 ms")
        // The server goes on with the next client.
        #expect(try await ControlClient.send(path: path, request: "{\"request\":\"fast\"}").ok)
        await server.stop()
    }

    /// A request that waits (an apply in its health check) does not hold the others: `status`
    /// is answered while it waits, and it is answered once what it waits for happens.
    @Test func aWaitingRequestDoesNotHoldTheOthers() async throws {
        let path = try directory() + "/control.sock"
        let server = try await ControlServer.claim(path: path, log: .silent)
        let release = Promise<Void>()
        server.handle("apply") { _ in
            await release.settled()
            return "{\"ok\":true,\"status\":\"applied\"}"
        }
        server.handle("status") { _ in "{\"ok\":true,\"text\":\"polling\"}" }
        try server.start()
        let apply = Task { try await ControlClient.send(path: path, request: "{\"request\":\"apply\"}") }
        let status = try await ControlClient.send(path: path, request: "{\"request\":\"status\"}")
        #expect(status.string("text") == "polling")
        release.fulfill(())
        #expect(try await apply.value.string("status") == "applied")
        await server.stop()
    }
}
