import Testing
@testable import CommandLineKit

/// Exit statuses as a script sees them (the messages go to this process's stderr).
@Suite struct CommandRunnerTests {
    @Test func statusFollowsHowTheCommandEnded() async {
        #expect(await CommandRunner.run(Tool.self, arguments: ["fail", "ok"]) == 0)
        #expect(await CommandRunner.run(Tool.self, arguments: ["fail", "usage"]) == 64)
        #expect(await CommandRunner.run(Tool.self, arguments: ["fail", "code"]) == 3)
        #expect(await CommandRunner.run(Tool.self, arguments: ["fail", "other"]) == 1)
    }

    @Test func usageMistakesAndValidateEndWith64() async {
        #expect(await CommandRunner.run(Tool.self, arguments: ["fail"]) == 64)
        #expect(await CommandRunner.run(Tool.self, arguments: ["scan"]) == 64, "validate() wants a --port")
        #expect(await CommandRunner.run(Tool.self, arguments: ["scan", "--port", "/dev/ttyS1"]) == 0)
    }

    @Test func helpAndVersionSucceed() async {
        #expect(await CommandRunner.run(Tool.self, arguments: ["--version"]) == 0)
        #expect(await CommandRunner.run(Tool.self, arguments: ["scan", "--help"]) == 0)
    }
}
