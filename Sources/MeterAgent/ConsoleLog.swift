import MeterCore

extension Log {
    /// Lines on stderr, written by the console's own thread (`ConsoleOutput`).
    public static func console(minimum: Level = .info) -> Log {
        Log(minimum: minimum) { ConsoleOutput.stderr.post($0) }
    }
}
