/// One thing a command takes: a flag (`--json`), an option with a value (`--port P`,
/// `--port=P`), a repeatable option, or a positional argument.
public struct Parameter: Sendable {
    public enum Kind: Sendable, Equatable {
        case flag
        case option
        /// May be given several times; every value is kept, in order.
        case repeatedOption
        case argument
        case optionalArgument
        /// Takes every positional left; only the last argument can be one.
        case variadicArgument
    }

    /// The long option without its dashes (`poll-interval-ms`), or the argument's name (`config`).
    public let name: String
    public let kind: Kind
    /// What help shows for the value: `--profiles <dir>`.
    public let valueName: String
    /// Taken when the parameter is not given, converted like a typed value; shown in help.
    public let defaultValue: String?
    public let isRequired: Bool
    public let help: String

    public static func flag(_ name: String, help: String) -> Parameter {
        Parameter(name: name, kind: .flag, valueName: name, defaultValue: nil, isRequired: false, help: help)
    }

    /// An option with one value; given twice, the last one counts.
    public static func option(_ name: String, value: String? = nil, default defaultValue: String? = nil, required: Bool = false,
                              help: String) -> Parameter {
        precondition(!(required && defaultValue != nil), "--\(name): a required option has no default")
        return Parameter(name: name, kind: .option, valueName: value ?? name, defaultValue: defaultValue, isRequired: required, help: help)
    }

    public static func repeatedOption(_ name: String, value: String? = nil, help: String) -> Parameter {
        Parameter(name: name, kind: .repeatedOption, valueName: value ?? name, defaultValue: nil, isRequired: false, help: help)
    }

    public static func argument(_ name: String, help: String) -> Parameter {
        Parameter(name: name, kind: .argument, valueName: name, defaultValue: nil, isRequired: true, help: help)
    }

    public static func optionalArgument(_ name: String, default defaultValue: String? = nil, help: String) -> Parameter {
        Parameter(name: name, kind: .optionalArgument, valueName: name, defaultValue: defaultValue, isRequired: false, help: help)
    }

    public static func variadicArgument(_ name: String, help: String) -> Parameter {
        Parameter(name: name, kind: .variadicArgument, valueName: name, defaultValue: nil, isRequired: false, help: help)
    }

    public var isPositional: Bool { kind == .argument || kind == .optionalArgument || kind == .variadicArgument }

    /// As errors and help name it: `--baud`, `<config>`.
    public var displayName: String { isPositional ? "<\(name)>" : "--\(name)" }

    /// As the usage line shows it: `--port <port>`, `--json`, `[<count>]`, `[<points> ...]`.
    var synopsis: String {
        switch kind {
        case .flag: "--\(name)"
        case .option, .repeatedOption: "--\(name) <\(valueName)>"
        case .argument: "<\(name)>"
        case .optionalArgument: "[<\(name)>]"
        case .variadicArgument: "[<\(name)> ...]"
        }
    }
}
