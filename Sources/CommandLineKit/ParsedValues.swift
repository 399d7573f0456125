/// What was typed for one command, by parameter name, as text; a command's `init` takes its
/// typed values from here. A conversion that fails is a usage error naming the parameter:
/// `--baud: "96x0" is not a whole number`.
public struct ParsedValues {
    let spec: CommandSpec
    /// Values in the order given; a flag has one empty value per use.
    let given: [String: [String]]

    init(spec: CommandSpec, given: [String: [String]]) {
        self.spec = spec
        self.given = given
    }

    public func flag(_ name: String) -> Bool {
        precondition(declared(name).kind == .flag, "\(spec.name): --\(name) is not a flag")
        return given[name] != nil
    }

    /// The value given, else the default, else nil.
    public func optional<T: ArgumentValue>(_ name: String, as type: T.Type = T.self) throws(ValidationError) -> T? {
        let parameter = declared(name)
        precondition(parameter.kind != .flag && parameter.kind != .repeatedOption && parameter.kind != .variadicArgument,
                     "\(spec.name): \(parameter.displayName) has no single value")
        guard let text = given[name]?.last ?? parameter.defaultValue else { return nil }
        return try convert(text, for: parameter)
    }

    /// The value given, else the default; for a required parameter or one with a default (the
    /// parser has already refused a missing required one).
    public func value<T: ArgumentValue>(_ name: String, as type: T.Type = T.self) throws(ValidationError) -> T {
        guard let value = try optional(name, as: type) else {
            preconditionFailure("\(spec.name): \(declared(name).displayName) is neither required nor has a default")
        }
        return value
    }

    /// Every value of a repeatable option or a variadic argument, in order.
    public func list<T: ArgumentValue>(_ name: String, as type: T.Type = T.self) throws(ValidationError) -> [T] {
        let parameter = declared(name)
        precondition(parameter.kind == .repeatedOption || parameter.kind == .variadicArgument,
                     "\(spec.name): \(parameter.displayName) takes one value")
        var values: [T] = []
        for text in given[name] ?? [] { values.append(try convert(text, for: parameter)) }
        return values
    }

    private func declared(_ name: String) -> Parameter {
        guard let parameter = spec.parameter(named: name) else { preconditionFailure("\(spec.name) declares no parameter '\(name)'") }
        return parameter
    }

    private func convert<T: ArgumentValue>(_ text: String, for parameter: Parameter) throws(ValidationError) -> T {
        guard let value = T(argument: text) else {
            throw ValidationError("\(parameter.displayName): \"\(text)\" is not \(T.expectation)")
        }
        return value
    }
}
