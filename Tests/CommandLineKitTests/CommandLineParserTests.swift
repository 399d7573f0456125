import Testing
@testable import CommandLineKit

@Suite struct CommandLineParserTests {
    @Test func optionsStandAnywhereAndTakeTheirValueEitherWay() throws {
        let read = try parsed(["read", "--baud=9600", "site.yaml", "--json", "main", "--unit", "7", "voltage.l1", "power"], as: ReadMeter.self)
        #expect(read.config == "site.yaml")
        #expect(read.device == "main")
        #expect(read.points == ["voltage.l1", "power"])
        #expect(read.baud == 9600)
        #expect(read.unit == 7)
        #expect(read.json)
    }

    @Test func absentOptionsAreNilOrTheirDefault() throws {
        let read = try parsed(["read", "site.yaml", "main"], as: ReadMeter.self)
        #expect(read.points.isEmpty)
        #expect(read.baud == nil)
        #expect(read.unit == nil)
        #expect(read.wait == 30)
        #expect(read.profiles == nil)
        #expect(!read.json)
    }

    @Test func theLastOfARepeatedSingleOptionCounts() throws {
        let read = try parsed(["read", "s", "d", "--wait", "5", "--wait=2.5"], as: ReadMeter.self)
        #expect(read.wait == 2.5)
    }

    @Test func aRepeatableOptionKeepsEveryValueInOrder() throws {
        let scan = try parsed(["scan", "--port", "/dev/ttyS1", "--speed", "fast", "--port=/dev/ttyS2", "5"], as: ScanLines.self)
        #expect(scan.ports == ["/dev/ttyS1", "/dev/ttyS2"])
        #expect(scan.speed == .fast)
        #expect(scan.count == 5)
        let defaults = try parsed(["scan"], as: ScanLines.self)
        #expect(defaults.ports.isEmpty && defaults.speed == .slow && defaults.count == 10)
    }

    @Test func afterTwoDashesEveryWordIsPositional() throws {
        let read = try parsed(["read", "--json", "--", "-site.yaml", "--unit", "-h"], as: ReadMeter.self)
        #expect(read.config == "-site.yaml")
        #expect(read.device == "--unit")
        #expect(read.points == ["-h"])
        #expect(read.json)
        #expect(read.unit == nil)
    }

    @Test func negativeNumbersAreValuesForValidateToJudge() throws {
        let scan = try parsed(["scan", "-3"], as: ScanLines.self)
        #expect(scan.count == -3)
    }

    @Test func conversionErrorsNameTheParameterAndTheValue() {
        #expect(usageError(["read", "s", "d", "--baud", "96x0"]) == #"--baud: "96x0" is not a whole number"#)
        #expect(usageError(["read", "s", "d", "--unit", "300"]) == #"--unit: "300" is not a whole number from 0 to 255"#)
        #expect(usageError(["read", "s", "d", "--wait", "soon"]) == #"--wait: "soon" is not a number"#)
        #expect(usageError(["read", "s", "d", "--wait", "nan"]) == #"--wait: "nan" is not a number"#)
        #expect(usageError(["scan", "--speed", "warp"]) == #"--speed: "warp" is not one of slow, fast"#)
        #expect(usageError(["scan", "ten"]) == #"<count>: "ten" is not a whole number"#)
    }

    @Test func mistakesAreNamed() {
        #expect(usageError(["read", "s", "d", "--bau", "9600"]) == "unknown option --bau")
        #expect(usageError(["read", "s", "d", "-x"]) == "unknown option -x")
        #expect(usageError(["read", "s", "d", "--json=yes"]) == "--json takes no value")
        #expect(usageError(["read", "s", "d", "--baud"]) == "--baud needs a value: --baud <baud>")
        #expect(usageError(["read", "s", "d", "--baud", "--json"]) == "--baud needs a value: --baud <baud>")
        #expect(usageError(["read", "s"]) == "missing <device>: Device id.")
        #expect(usageError(["keys", "generate"]) == "missing --out <name>: Path of the two files without extension.")
        #expect(usageError(["scan", "1", "2"]) == "unexpected argument '2'")
        #expect(usageError(["frob"]) == "unknown command 'frob' (commands: read, scan, keys, fail)")
        #expect(usageError(["keys", "frob"]) == "unknown command 'frob' (commands: generate)")
        #expect(usageError(["--frob"]) == "unknown option --frob")
        #expect(usageError(["keys", "generate", "--out", "ops-1"]) == nil)
    }

    @Test func aUsageErrorNamesTheCommandItWasMadeOn() throws {
        do throws(UsageFailure) {
            _ = try CommandLineParser.parse(["keys", "generate"], root: Tool.self)
            Issue.record("parsed without --out")
        } catch {
            #expect(error.path.name == "tool keys generate")
            #expect(error.text == """
                error: missing --out <name>: Path of the two files without extension.
                usage: tool keys generate --out <name>; see 'tool keys generate --help'

                """)
        }
    }

    @Test func helpWinsOverMistakesOnTheSameLine() throws {
        let read = try #require(try helpText(["read", "--bogus", "--help"]))
        #expect(read.hasPrefix("OVERVIEW: Read a device once."))
        #expect(try helpText(["read", "-h"]) == read)
        #expect(try helpText(["help", "read"]) == read)
        // After `--`, `--help` is an argument.
        #expect(try helpText(["read", "s", "--", "--help"]) == nil)
    }

    @Test func aGroupAloneOrAskedShowsItsSubcommands() throws {
        let keys = try #require(try helpText(["keys"]))
        #expect(keys.contains("  generate                Write NAME.key and NAME.pub."))
        #expect(try helpText(["keys", "--help"]) == keys)
        #expect(try helpText(["help", "keys"]) == keys)
        #expect(try helpText([]) == helpText(["--help"]))
        #expect(usageError(["help", "nope"]) == "unknown command 'nope'")
    }

    @Test func versionIsTheRootsOnly() throws {
        guard case let .version(version) = try CommandLineParser.parse(["--version"], root: Tool.self) else {
            Issue.record("--version did not ask for the version")
            return
        }
        #expect(version == "1.2.3")
        #expect(usageError(["read", "s", "d", "--version"]) == "unknown option --version")
    }
}
