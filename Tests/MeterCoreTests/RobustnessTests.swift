import Foundation
import Testing
@testable import MeterCore

/// Damaged copies of the shipped files must fail with located errors, never crash.
@Suite struct RobustnessTests {
    func mutations(of text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var out: [String] = []
        for i in lines.indices {
            var copy = lines
            copy.remove(at: i)
            out.append(copy.joined(separator: "\n"))
            // Cut the line in half: keys without values, half-written flow mappings.
            copy = lines
            copy[i] = copy[i].prefix(copy[i].count / 2)
            out.append(copy.joined(separator: "\n"))
        }
        return out
    }

    func check(_ errors: [ConfigError], lineCount: Int, file: String) {
        #expect(!errors.isEmpty)
        for error in errors where error.location.file == file {
            #expect((1...lineCount + 1).contains(error.location.line), "\(error)")
            #expect(error.location.column >= 1, "\(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func damagedSiteConfigs() throws {
        let profiles = try Repo.profiles()
        let text = try String(contentsOfFile: Repo.path("Hardware/examples/example-site.yaml"), encoding: .utf8)
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        var failures = 0
        for mutated in mutations(of: text) {
            do {
                _ = try SiteConfigLoader.load(text: mutated, file: "m.yaml", profiles: profiles)
            } catch {
                failures += 1
                check(error.errors, lineCount: lineCount, file: "m.yaml")
            }
        }
        #expect(failures > 10)
    }

    @Test(arguments: try Repo.yamlFiles(in: "Hardware/profiles"))
    func damagedProfiles(file: String) throws {
        let text = try String(contentsOfFile: Repo.profilesDirectory + "/" + file, encoding: .utf8)
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        for mutated in mutations(of: text) {
            do {
                _ = try ProfileLoader.load(text: mutated, file: "m.yaml", name: "m")
            } catch {
                check(error.errors, lineCount: lineCount, file: "m.yaml")
            }
        }
    }
}
