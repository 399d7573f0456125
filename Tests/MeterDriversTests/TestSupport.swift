import Foundation

/// Paths into the repository, found from this file so tests run from any working directory.
enum Paths {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var profiles: String { repoRoot.appendingPathComponent("Hardware/profiles").path }
}
