import Testing
@testable import CommandLineKit

@Suite struct ArgumentCursorTests {
    @Test func classifiesEachKindOfWord() {
        #expect(ArgumentCursor.classify("--port") == .long(name: "port", inlineValue: nil))
        #expect(ArgumentCursor.classify("--port=/dev/ttyUSB0") == .long(name: "port", inlineValue: "/dev/ttyUSB0"))
        #expect(ArgumentCursor.classify("--key=a=b") == .long(name: "key", inlineValue: "a=b"))
        #expect(ArgumentCursor.classify("--port=") == .long(name: "port", inlineValue: ""))
        #expect(ArgumentCursor.classify("-h") == .short("h"))
        #expect(ArgumentCursor.classify("--") == .endOfOptions)
        #expect(ArgumentCursor.classify("site.yaml") == .positional("site.yaml"))
        // Values that start with a dash but are no option.
        #expect(ArgumentCursor.classify("-1") == .positional("-1"))
        #expect(ArgumentCursor.classify("-0.5") == .positional("-0.5"))
        #expect(ArgumentCursor.classify("-") == .positional("-"))
    }

    @Test func anOptionsValueIsTheNextWordUnlessThatIsAnOption() {
        var cursor = ArgumentCursor(["--port", "--baud", "9600", "--poll-interval-ms", "-1"])
        #expect(cursor.next() == .long(name: "port", inlineValue: nil))
        #expect(cursor.value() == nil)
        #expect(cursor.next() == .long(name: "baud", inlineValue: nil))
        #expect(cursor.value() == "9600")
        #expect(cursor.next() == .long(name: "poll-interval-ms", inlineValue: nil))
        #expect(cursor.value() == "-1")
        #expect(cursor.value() == nil)
        #expect(cursor.next() == nil)
    }

    @Test func restTakesEveryWordAsItIs() {
        var cursor = ArgumentCursor(["a", "--", "--json", "-h"])
        #expect(cursor.next() == .positional("a"))
        #expect(cursor.next() == .endOfOptions)
        #expect(cursor.rest() == ["--json", "-h"])
        #expect(cursor.isAtEnd)
    }
}
