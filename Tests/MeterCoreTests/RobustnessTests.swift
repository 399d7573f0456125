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

    /// Top-level keys every profile must have (ProfileLoader: manufacturer, model, medium, points;
    /// CJ/T 188 profiles also meter_type).
    static let requiredProfileKeys = ["manufacturer:", "model:", "medium:", "points:", "meter_type:"]

    /// Whether a damaged profile is certainly broken: a required key's line was removed, or a line
    /// was cut inside a flow mapping (`{` without its `}` is a YAML syntax error).
    static func mustBeRejected(original: Substring, damaged: Substring?) -> Bool {
        guard let damaged else { return requiredProfileKeys.contains { original.hasPrefix($0) } }
        let code = damaged.prefix { $0 != "#" }
        return code.contains("{") && !code.contains("}")
    }

    @Test(arguments: try Repo.yamlFiles(in: "Hardware/profiles"))
    func damagedProfiles(file: String) throws {
        let text = try String(contentsOfFile: Repo.profilesDirectory + "/" + file, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var certainlyBroken = 0
        for i in lines.indices {
            // The line removed, then cut in half (as `mutations(of:)` does for site configs).
            for damaged in [nil, lines[i].prefix(lines[i].count / 2)] {
                var copy = lines
                if let damaged { copy[i] = damaged } else { copy.remove(at: i) }
                let mustFail = Self.mustBeRejected(original: lines[i], damaged: damaged)
                if mustFail { certainlyBroken += 1 }
                do {
                    _ = try ProfileLoader.load(text: copy.joined(separator: "\n"), file: "m.yaml", name: "m")
                    #expect(!mustFail, "line \(i + 1) \(damaged == nil ? "removed" : "cut to '\(damaged!)'"): loaded anyway")
                } catch {
                    check(error.errors, lineCount: lines.count, file: "m.yaml")
                }
            }
        }
        // Every profile has the required keys and flow-mapping points to damage.
        #expect(certainlyBroken >= 5, "\(certainlyBroken) certainly broken copies of \(file)")
    }
}
