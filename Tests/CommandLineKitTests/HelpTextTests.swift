import Testing
@testable import CommandLineKit

@Suite struct HelpTextTests {
    @Test func aCommandsHelp() throws {
        let help = try #require(try helpText(["read", "--help"]))
        #expect(help == """
            OVERVIEW: Read a device once.

            USAGE: tool read <config> <device> [<points> ...] [<options>]

            ARGUMENTS:
              <config>                Site configuration file (YAML).
              <device>                Device id.
              <points>                Points to read.

            OPTIONS:
              --baud <baud>           Baud rate.
              --unit <unit>           Unit id.
              --wait <seconds>        Seconds to wait. (default: 30)
              --profiles <dir>        Directory of device profiles.
              --json                  Print JSON lines.
              -h, --help              Show help information.

            """)
    }

    @Test func theRootsHelpListsSubcommandsWithTheirAbstracts() throws {
        let help = try #require(try helpText(["--help"]))
        #expect(help == """
            OVERVIEW: Reads meters.

            Exit codes: 0 success; 64 bad usage.

            USAGE: tool <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              read                    Read a device once.
              scan                    Find meters.
              keys                    Make keys.
              fail                    Fail on purpose.

              See 'tool help <subcommand>' for detailed help.

            """)
    }

    @Test func usageListsArgumentsAndRequiredOptions() throws {
        var path = CommandPath(root: Tool.spec)
        path.append(KeyGroup.spec)
        #expect(HelpText.usage(path) == "tool keys <subcommand>")
        path.append(KeyGroup.Generate.spec)
        #expect(HelpText.usage(path) == "tool keys generate --out <name>")
        var scan = CommandPath(root: Tool.spec)
        scan.append(ScanLines.spec)
        #expect(HelpText.usage(scan) == "tool scan [<count>] [<options>]")
    }

    @Test func longTextWrapsAtSpacesButIndentedExamplesStayWhole() {
        let example = "  tool scan --port /dev/ttyUSB0 --port /dev/ttyUSB1 --port /dev/ttyUSB2 --speed fast"
        let text = "Modbus: each unit id gets a one-register read, then Read Device Identification.\n" + example
        #expect(HelpText.wrap(text, width: 40) == [
            "Modbus: each unit id gets a one-register",
            "read, then Read Device Identification.",
            example,
        ])
        #expect(HelpText.wrap("short\n\nlines", width: 40) == ["short", "", "lines"])
    }

    @Test func aLabelTooWideForTheFirstColumnGetsALineOfItsOwn() throws {
        let spec = CommandSpec("x", abstract: "X.", parameters: [.option("poll-interval-ms-and-more", value: "ms", help: "Interval.")])
        var path = CommandPath(root: spec)
        path.append(spec)
        let help = HelpText.render(path)
        #expect(help.contains("  --poll-interval-ms-and-more <ms>\n                          Interval.\n"))
    }
}
