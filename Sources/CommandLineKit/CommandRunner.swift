#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Parses a command line, validates and runs the command, and turns the outcome into an exit
/// status: 0 after a run, help or version; 64 (with the error and a usage line on stderr) for a
/// usage mistake, also one found by `validate()` or `run()`; an `ExitCode`'s own status; 1 for
/// any other error, printed.
public enum CommandRunner {
    public static func run(_ root: any CommandNode.Type, arguments: [String]) async -> Int32 {
        let invocation: Invocation
        do throws(UsageFailure) {
            invocation = try CommandLineParser.parse(arguments, root: root)
        } catch {
            writeAll(STDERR_FILENO, error.text)
            return ExitCode.validationFailure.rawValue
        }
        switch invocation {
        case let .help(text):
            print(text, terminator: "")
            return 0
        case let .version(version):
            print(version)
            return 0
        case let .run(command, path):
            do {
                try command.validate()
                try await command.run()
                return 0
            } catch let error as ValidationError {
                writeAll(STDERR_FILENO, UsageFailure(error: error, path: path).text)
                return ExitCode.validationFailure.rawValue
            } catch let exit as ExitCode {
                return exit.rawValue
            } catch {
                writeAll(STDERR_FILENO, "\(path.specs[0].name): \(error)\n")
                return ExitCode.failure.rawValue
            }
        }
    }

    /// Straight to the descriptor: stderr is unbuffered, and nothing else may be set up yet.
    private static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
