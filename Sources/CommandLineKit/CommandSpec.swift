/// What help says about a command and what it takes: its parameters, or its subcommands.
public struct CommandSpec: Sendable {
    public let name: String
    /// One line, shown in the parent's list of subcommands and at the top of the help.
    public let abstract: String
    /// The rest of the help: examples, exit codes. Its line breaks are kept.
    public let discussion: String
    /// Printed by `--version` (the root only).
    public let version: String?
    public let parameters: [Parameter]
    public let subcommands: [any CommandNode.Type]

    /// A command that runs.
    public init(_ name: String, abstract: String, discussion: String = "", parameters: [Parameter] = []) {
        self.init(name: name, abstract: abstract, discussion: discussion, version: nil, parameters: parameters, subcommands: [])
    }

    /// A group: the root (with a version) or a verb with verbs under it (`config validate`).
    public init(group name: String, abstract: String, discussion: String = "", version: String? = nil,
                subcommands: [any CommandNode.Type]) {
        self.init(name: name, abstract: abstract, discussion: discussion, version: version, parameters: [], subcommands: subcommands)
    }

    private init(name: String, abstract: String, discussion: String, version: String?, parameters: [Parameter],
                 subcommands: [any CommandNode.Type]) {
        let names = parameters.map(\.name)
        precondition(Set(names).count == names.count, "\(name): a parameter name is used twice in \(names)")
        let positionals = parameters.filter(\.isPositional)
        for (i, p) in positionals.enumerated() where i > 0 {
            let before = positionals[i - 1].kind
            precondition(before != .variadicArgument && !(before == .optionalArgument && p.kind == .argument),
                         "\(name): <\(p.name)> cannot follow an optional or variadic argument")
        }
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.version = version
        self.parameters = parameters
        self.subcommands = subcommands
    }

    func parameter(named name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    /// The option `--name` (not an argument of that name).
    func option(named name: String) -> Parameter? {
        parameters.first { $0.name == name && !$0.isPositional }
    }

    func subcommand(named name: String) -> (any CommandNode.Type)? {
        subcommands.first { $0.spec.name == name }
    }
}
