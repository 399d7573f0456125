/// Walks the words of a command line one at a time and says what each is: a long option (with
/// its `=value` if written so), a short option, `--`, or a positional word.
struct ArgumentCursor {
    enum Word: Equatable {
        /// `--port` or `--port=/dev/ttyUSB0` (name without dashes).
        case long(name: String, inlineValue: String?)
        /// `-h`.
        case short(String)
        /// `--`: every word after it is positional.
        case endOfOptions
        case positional(String)
    }

    private let words: [String]
    private(set) var index = 0

    init(_ words: [String]) {
        self.words = words
    }

    var isAtEnd: Bool { index >= words.count }

    mutating func next() -> Word? {
        guard !isAtEnd else { return nil }
        defer { index += 1 }
        return Self.classify(words[index])
    }

    /// The value of the option just read: the next word, unless it is an option itself
    /// (`--port --baud 9600` lacks the port). `-1` and `-` are values.
    mutating func value() -> String? {
        guard !isAtEnd, case .positional = Self.classify(words[index]) else { return nil }
        defer { index += 1 }
        return words[index]
    }

    /// Every word not read yet, as it is (after `--`).
    mutating func rest() -> [String] {
        defer { index = words.count }
        return Array(words[index...])
    }

    static func classify(_ word: String) -> Word {
        if word == "--" { return .endOfOptions }
        if word.hasPrefix("--") {
            let body = word.dropFirst(2)
            guard let equals = body.firstIndex(of: "=") else { return .long(name: String(body), inlineValue: nil) }
            return .long(name: String(body[..<equals]), inlineValue: String(body[body.index(after: equals)...]))
        }
        // A dash and a letter is an option; a negative number or a lone dash is a value.
        if word.hasPrefix("-"), let second = word.dropFirst().first, second.isLetter {
            return .short(String(word.dropFirst()))
        }
        return .positional(word)
    }
}
