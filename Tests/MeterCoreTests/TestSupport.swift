import Foundation
import MeterCore

/// Paths into the repository, found from this file so tests run from any working directory.
enum Repo {
    static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // MeterCoreTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // repository root
        .path

    static func path(_ relative: String) -> String { root + "/" + relative }

    static let profilesDirectory = path("Hardware/profiles")

    static func fixture(_ relative: String) throws -> String {
        try String(contentsOfFile: path("Tests/MeterCoreTests/Fixtures/" + relative), encoding: .utf8)
    }

    static func profiles() throws -> [String: DeviceProfile] {
        try ProfileLoader.loadDirectory(profilesDirectory)
    }

    /// `*.yaml` files of a directory, sorted.
    static func yamlFiles(in relative: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(relative))
            .filter { $0.hasSuffix(".yaml") }
            .sorted()
    }
}

/// The error lines a config produces, or an empty list when it loads.
func siteErrors(_ text: String, file: String, profiles: [String: DeviceProfile]) -> [String] {
    do {
        _ = try SiteConfigLoader.load(text: text, file: file, profiles: profiles)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

func profileErrors(_ text: String, file: String) -> [String] {
    do {
        _ = try ProfileLoader.load(text: text, file: file, name: "test")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}
