#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import MeterAgent
import MeterCore

/// Keeps `scan` and `commission` off a line the running agent polls: termios settings belong to
/// the line, not to one open descriptor, so a probe at another rate would leave the agent's port
/// at that rate, and its frames would collide with the agent's polls.
struct PortGuard {
    static let parameters: [Parameter] = ControlSocketOption.parameters + [
        .flag("force", help: "Use the port even if the running agent polls it (stop the agent first instead, if you can)."),
    ]

    let socket: ControlSocketOption
    let force: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        socket = try ControlSocketOption(values)
        force = values.flag("force")
    }

    /// Exits with code 3 when the agent on the control socket says it uses `port`.
    func refuseIfAgentUses(_ port: String) async throws {
        guard !force else { return }
        let request = "{\"request\":\"uses_port\",\"port\":" + JSONWriter.quoted(port) + "}"
        // No agent, or one that cannot say: nothing to protect.
        guard let reply = try? await ControlClient.send(path: socket.path, request: request, timeoutMs: 3_000), reply.ok,
              let user = reply.string("used_by") else { return }
        throw fail("the running agent polls \(port) (\(user)); stop it first (systemctl stop meteragent), or give --force", Exit.busUnavailable)
    }

    /// The agent's side of `uses_port`: `{"ok":true}`, with `"used_by":"bus rs485"` when a bus or
    /// card reader of `site` is on the asked port.
    static func reply(to request: ControlRequest, site: SiteConfig) -> String {
        let port = request.string("port") ?? ""
        let users = site.buses.compactMap { bus -> String? in
            guard case let .serial(path, _, _) = bus.transport, sameDevice(path, port) else { return nil }
            return "bus \(bus.id)"
        } + site.readers.filter { sameDevice($0.port, port) }.map { "reader \($0.id)" }
        return "{\"ok\":true" + (users.isEmpty ? "" : ",\"used_by\":" + JSONWriter.quoted(users.joined(separator: ", "))) + "}"
    }

    /// Whether two port names lead to the same device (a udev symlink and its tty).
    static func sameDevice(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        var first = stat(), second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }
}
