/// Help as `--help` prints it: overview, discussion, usage, then arguments, options and
/// subcommands in two columns, wrapped to 80 columns (the width of a serial console).
enum HelpText {
    static let width = 80
    /// Where the second column starts.
    static let column = 26

    static func render(_ path: CommandPath) -> String {
        let spec = path.spec
        var lines = wrap("OVERVIEW: " + spec.abstract, width: width)
        if !spec.discussion.isEmpty { lines += [""] + wrap(spec.discussion, width: width) }
        lines += ["", "USAGE: " + usage(path)]
        let arguments = spec.parameters.filter(\.isPositional)
        if !arguments.isEmpty {
            lines += ["", "ARGUMENTS:"]
            for argument in arguments { lines += row(argument.displayName, described(argument)) }
        }
        lines += ["", "OPTIONS:"]
        for option in spec.parameters where !option.isPositional {
            lines += row(option.kind == .flag ? "--\(option.name)" : "--\(option.name) <\(option.valueName)>", described(option))
        }
        if path.isRoot, spec.version != nil { lines += row("--version", "Show the version.") }
        lines += row("-h, --help", "Show help information.")
        if !spec.subcommands.isEmpty {
            lines += ["", "SUBCOMMANDS:"]
            for subcommand in spec.subcommands { lines += row(subcommand.spec.name, subcommand.spec.abstract) }
            lines += ["", "  See '\(path.specs[0].name) help <subcommand>' for detailed help."]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line: the command, its arguments and required options, then `[<options>]` when it
    /// has others; a group takes `<subcommand>`.
    static func usage(_ path: CommandPath) -> String {
        let spec = path.spec
        guard spec.subcommands.isEmpty else { return path.name + " <subcommand>" }
        var parts = [path.name] + spec.parameters.filter(\.isPositional).map(\.synopsis)
        parts += spec.parameters.filter { !$0.isPositional && $0.isRequired }.map(\.synopsis)
        if spec.parameters.contains(where: { !$0.isPositional && !$0.isRequired }) { parts.append("[<options>]") }
        return parts.joined(separator: " ")
    }

    private static func described(_ parameter: Parameter) -> String {
        parameter.defaultValue.map { parameter.help + " (default: \($0))" } ?? parameter.help
    }

    /// `  label   text`, the text wrapped in the second column; a label too long for the first
    /// column gets a line of its own.
    private static func row(_ label: String, _ text: String) -> [String] {
        let pad = String(repeating: " ", count: column)
        var lines = wrap(text, width: width - column).map { pad + $0 }
        let head = "  " + label
        if head.count + 2 <= column, !lines.isEmpty {
            lines[0] = head + String(repeating: " ", count: column - head.count) + lines[0].dropFirst(column)
        } else {
            lines.insert(head, at: 0)
        }
        return lines
    }

    /// Each line of `text` broken at spaces to `width`. An indented line (an example command in
    /// a discussion) is kept whole: a command broken in two cannot be copied.
    static func wrap(_ text: String, width: Int) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.count > width, line.first != " " else {
                out.append(String(line))
                continue
            }
            var current = ""
            for word in line.split(separator: " ") {
                if !current.isEmpty && current.count + 1 + word.count > width {
                    out.append(current)
                    current = ""
                }
                current += (current.isEmpty ? "" : " ") + word
            }
            out.append(current)
        }
        return out
    }
}
