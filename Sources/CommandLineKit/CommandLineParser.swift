/// The commands from the root to the one a command line names: `meteragent config validate`.
public struct CommandPath: Sendable {
    public private(set) var specs: [CommandSpec]

    init(root: CommandSpec) {
        specs = [root]
    }

    mutating func append(_ spec: CommandSpec) {
        specs.append(spec)
    }

    public var name: String { specs.map(\.name).joined(separator: " ") }
    var spec: CommandSpec { specs[specs.count - 1] }
    var isRoot: Bool { specs.count == 1 }
}

/// What a command line asks for.
public enum Invocation {
    case run(any Command, CommandPath)
    /// Help text for stdout.
    case help(String)
    case version(String)
}

/// A usage mistake and the command it was made on, for the usage line under the error.
public struct UsageFailure: Error {
    public let error: ValidationError
    public let path: CommandPath

    /// `error: …` and one usage line, for stderr.
    public var text: String {
        "error: \(error.message)\nusage: \(HelpText.usage(path)); see '\(path.name) --help'\n"
    }
}

/// Reads a command line against a tree of commands: finds the command, then gives its options
/// and arguments their values and builds it. Help (`--help`, `-h`, `help VERB…`) wins over any
/// mistake on the same line.
public enum CommandLineParser {
    public static func parse(_ words: [String], root: any CommandNode.Type) throws(UsageFailure) -> Invocation {
        var path = CommandPath(root: root.spec)
        var node = root
        var rest = words[...]
        while !node.spec.subcommands.isEmpty {
            guard let word = rest.first else { return .help(HelpText.render(path)) }
            if word == "--help" || word == "-h" { return .help(HelpText.render(path)) }
            if path.isRoot, word == "--version", let version = node.spec.version { return .version(version) }
            if path.isRoot, word == "help" { return try help(for: rest.dropFirst(), root: root) }
            guard let child = node.spec.subcommand(named: word) else {
                let names = node.spec.subcommands.map { $0.spec.name }.joined(separator: ", ")
                let message = word.hasPrefix("-") ? "unknown option \(word)" : "unknown command '\(word)' (commands: \(names))"
                throw UsageFailure(error: ValidationError(message), path: path)
            }
            path.append(child.spec)
            node = child
            rest = rest.dropFirst()
        }
        guard let command = node as? any Command.Type else { preconditionFailure("\(path.name) has neither subcommands nor a run()") }
        let options = rest.prefix { $0 != "--" }
        if options.contains("--help") || options.contains("-h") { return .help(HelpText.render(path)) }
        do throws(ValidationError) {
            let given = try values(Array(rest), for: path.spec)
            return .run(try command.init(ParsedValues(spec: path.spec, given: given)), path)
        } catch {
            throw UsageFailure(error: error, path: path)
        }
    }

    /// `help`, `help config`, `help config validate`: that command's help.
    private static func help(for names: ArraySlice<String>, root: any CommandNode.Type) throws(UsageFailure) -> Invocation {
        var path = CommandPath(root: root.spec)
        for name in names {
            guard let child = path.spec.subcommand(named: name) else {
                throw UsageFailure(error: ValidationError("unknown command '\(name)'"), path: path)
            }
            path.append(child.spec)
        }
        return .help(HelpText.render(path))
    }

    /// Each parameter's words: options wherever they stand, positionals in order (`--` ends the
    /// options), then every required one checked.
    static func values(_ words: [String], for spec: CommandSpec) throws(ValidationError) -> [String: [String]] {
        var cursor = ArgumentCursor(words)
        var given: [String: [String]] = [:]
        var positionals: [String] = []
        while let word = cursor.next() {
            switch word {
            case .endOfOptions:
                positionals += cursor.rest()
            case let .positional(text):
                positionals.append(text)
            case let .short(name):
                throw ValidationError("unknown option -\(name)")
            case let .long(name, inlineValue):
                guard let option = spec.option(named: name) else { throw ValidationError("unknown option --\(name)") }
                if option.kind == .flag {
                    guard inlineValue == nil else { throw ValidationError("--\(name) takes no value") }
                    given[name, default: []].append("")
                    continue
                }
                guard let value = inlineValue ?? cursor.value() else { throw ValidationError("--\(name) needs a value: \(option.synopsis)") }
                if option.kind == .repeatedOption { given[name, default: []].append(value) } else { given[name] = [value] }
            }
        }
        var left = positionals[...]
        for argument in spec.parameters where argument.isPositional {
            if argument.kind == .variadicArgument {
                given[argument.name] = Array(left)
                left = []
            } else if let word = left.popFirst() {
                given[argument.name] = [word]
            } else if argument.isRequired {
                throw ValidationError("missing \(argument.displayName): \(argument.help)")
            }
        }
        if let extra = left.first { throw ValidationError("unexpected argument '\(extra)'") }
        for option in spec.parameters where option.isRequired && !option.isPositional && given[option.name] == nil {
            throw ValidationError("missing \(option.synopsis): \(option.help)")
        }
        return given
    }
}
