/// A place in the command tree: a command that runs, or a group of subcommands (`config`,
/// `keys`, `buffer`, the root itself).
public protocol CommandNode: Sendable {
    static var spec: CommandSpec { get }
}

/// A command that runs: built from what was typed (`init` converts the values and throws the
/// usage error when one does not convert), checked (`validate`), then run.
public protocol Command: CommandNode {
    init(_ values: ParsedValues) throws(ValidationError)
    /// Checks what the spec cannot say (ranges, options that go together); throws
    /// `ValidationError` for a usage mistake (exit 64).
    func validate() throws
    func run() async throws
}

public extension Command {
    func validate() throws {}
}

/// A usage mistake: printed on stderr with a usage line, exit code 64 (EX_USAGE).
public struct ValidationError: Error, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Ends the process with this status, printing nothing: the command has said why already.
public struct ExitCode: Error, RawRepresentable, Equatable {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    public init(_ code: Int32) {
        self.rawValue = code
    }

    public static let success = ExitCode(0)
    public static let failure = ExitCode(1)
    /// EX_USAGE of sysexits.h.
    public static let validationFailure = ExitCode(64)
}
