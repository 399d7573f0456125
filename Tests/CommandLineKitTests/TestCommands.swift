import CommandLineKit

/// A small command tree with every kind of parameter: `tool read CONFIG DEVICE [POINTS…]`,
/// `tool scan --port P…`, `tool keys generate --out NAME`, `tool fail`.
enum Tool: CommandNode {
    static let spec = CommandSpec(
        group: "tool",
        abstract: "Reads meters.",
        discussion: "Exit codes: 0 success; 64 bad usage.",
        version: "1.2.3",
        subcommands: [ReadMeter.self, ScanLines.self, KeyGroup.self, Failing.self]
    )
}

struct ReadMeter: Command {
    static let spec = CommandSpec(
        "read",
        abstract: "Read a device once.",
        parameters: [
            .argument("config", help: "Site configuration file (YAML)."),
            .argument("device", help: "Device id."),
            .variadicArgument("points", help: "Points to read."),
            .option("baud", help: "Baud rate."),
            .option("unit", help: "Unit id."),
            .option("wait", value: "seconds", default: "30", help: "Seconds to wait."),
            .option("profiles", value: "dir", help: "Directory of device profiles."),
            .flag("json", help: "Print JSON lines."),
        ]
    )

    let config: String
    let device: String
    let points: [String]
    let baud: Int?
    let unit: UInt8?
    let wait: Double
    let profiles: String?
    let json: Bool

    init(_ values: ParsedValues) throws(ValidationError) {
        config = try values.value("config")
        device = try values.value("device")
        points = try values.list("points")
        baud = try values.optional("baud")
        unit = try values.optional("unit")
        wait = try values.value("wait")
        profiles = try values.optional("profiles")
        json = values.flag("json")
    }

    func run() async throws {}
}

struct ScanLines: Command {
    enum Speed: String, ArgumentValue, CaseIterable {
        case slow, fast
    }

    static let spec = CommandSpec(
        "scan",
        abstract: "Find meters.",
        parameters: [
            .repeatedOption("port", help: "Serial port to scan (repeat for several)."),
            .option("speed", default: "slow", help: "How fast."),
            .optionalArgument("count", default: "10", help: "How many."),
        ]
    )

    let ports: [String]
    let speed: Speed
    let count: Int

    init(_ values: ParsedValues) throws(ValidationError) {
        ports = try values.list("port")
        speed = try values.value("speed")
        count = try values.value("count")
    }

    func validate() throws {
        if ports.isEmpty { throw ValidationError("give at least one --port") }
    }

    func run() async throws {}
}

enum KeyGroup: CommandNode {
    static let spec = CommandSpec(group: "keys", abstract: "Make keys.", subcommands: [Generate.self])

    struct Generate: Command {
        static let spec = CommandSpec(
            "generate",
            abstract: "Write NAME.key and NAME.pub.",
            parameters: [.option("out", value: "name", required: true, help: "Path of the two files without extension.")]
        )

        let out: String

        init(_ values: ParsedValues) throws(ValidationError) {
            out = try values.value("out")
        }

        func run() async throws {}
    }
}

/// Ends the way its first argument says: `usage` (a `ValidationError` from run), `code` (an
/// `ExitCode` of 3), `other` (any other error), `ok`.
struct Failing: Command {
    struct Broken: Error, CustomStringConvertible {
        var description: String { "broken on purpose" }
    }

    static let spec = CommandSpec("fail", abstract: "Fail on purpose.", parameters: [.argument("how", help: "usage, code, other or ok.")])

    let how: String

    init(_ values: ParsedValues) throws(ValidationError) {
        how = try values.value("how")
    }

    func run() async throws {
        switch how {
        case "usage": throw ValidationError("that is not how")
        case "code": throw ExitCode(3)
        case "other": throw Broken()
        default: return
        }
    }
}

/// The command a command line builds, or the usage error it makes.
func parsed<C: Command>(_ words: [String], as type: C.Type = C.self) throws -> C {
    guard case let .run(command, _) = try CommandLineParser.parse(words, root: Tool.self) else {
        throw ValidationError("not a run: \(words)")
    }
    guard let typed = command as? C else { throw ValidationError("not a \(C.self): \(command)") }
    return typed
}

/// The message of the usage error a command line makes, or nil when it parses.
func usageError(_ words: [String]) -> String? {
    do throws(UsageFailure) {
        _ = try CommandLineParser.parse(words, root: Tool.self)
        return nil
    } catch {
        return error.error.message
    }
}

/// The help text a command line asks for, or nil.
func helpText(_ words: [String]) throws -> String? {
    guard case let .help(text) = try CommandLineParser.parse(words, root: Tool.self) else { return nil }
    return text
}
