#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CommandLineKit
import MeterAgent
import MeterCore

/// Where the running agent's control socket is: `--control-socket`, or the default both `run`
/// and `status` compute the same way.
struct ControlSocketOption {
    static let parameters: [Parameter] = [
        .option("control-socket", value: "path", help: """
            The agent's control socket (default: $METERAGENT_CONTROL_SOCKET, else /run/meteragent/control.sock when \
            /run/meteragent is writable, else $XDG_RUNTIME_DIR/meteragent.sock, else /tmp/meteragent-UID/control.sock).
            """),
    ]

    let controlSocket: String?

    init(_ values: ParsedValues) throws(ValidationError) {
        controlSocket = try values.optional("control-socket")
    }

    var path: String { controlSocket ?? ControlClient.defaultPath() }
}

struct Status: Command {
    static let spec = CommandSpec(
        "status",
        abstract: "Show what the running agent sees: buses, devices, card readers, store and uplink.",
        discussion: """
        Asks the running `meteragent run` over its control socket (owner-only, mode 0600: run it as the agent's \
        user or root). Per bus: endpoint, state, share of the last minute the line was busy, queue depth and \
        counters; per device: state (ok, failing, backing_off, dead = no good reading in the last 3 polls), last \
        good read (UTC and age), success/timeout/CRC/exception counters and the current back-off; per card \
        reader: ready or lost and the last card (written as the site's id_privacy says); the store's unsent \
        records and last commit; the uplink's connection and last acknowledged sequence number. \
        Exit code 7: no agent answers on the socket.
        """,
        parameters: ControlSocketOption.parameters + [
            .flag("json", help: "Print the agent's JSON object (one line) instead of tables."),
            .flag("watch", help: "Repeat until interrupted (Ctrl-C), redrawing the screen on a terminal."),
            .option("interval", value: "seconds", default: "2", help: "Seconds between two looks with --watch."),
        ]
    )

    let socket: ControlSocketOption
    let json: Bool
    let watch: Bool
    let interval: Double

    init(_ values: ParsedValues) throws(ValidationError) {
        socket = try ControlSocketOption(values)
        json = values.flag("json")
        watch = values.flag("watch")
        interval = try values.value("interval")
    }

    func validate() throws {
        if interval < 0.2 { throw ValidationError("--interval must be at least 0.2 seconds") }
    }

    func run() async throws {
        let path = socket.path
        let request = json ? "{\"request\":\"status\"}" : "{\"request\":\"status\",\"format\":\"text\"}"
        let redraw = watch && isatty(STDOUT_FILENO) == 1
        while true {
            let reply: ControlReply
            do {
                reply = try await ControlClient.send(path: path, request: request)
            } catch {
                throw fail(error.description, Exit.agentUnreachable)
            }
            var out: String
            if reply.ok {
                out = json ? reply.line + "\n" : (reply.string("text") ?? reply.line + "\n")
            } else if watch {
                // Asked while a config is being applied: say so and look again.
                out = (reply.string("error") ?? reply.line) + "\n"
            } else {
                throw fail("the agent refused: " + (reply.string("error") ?? reply.line), Exit.agentUnreachable)
            }
            if redraw { out = "\u{1B}[H\u{1B}[2J" + out } else if watch && !json { out += "\n" }
            await ConsoleOutput.stdout.write(lines: [String(out.dropLast())])
            guard watch else { return }
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }
}
