import Foundation
import MeterCore
@testable import MeterSimulation

enum TestPaths {
    /// The package root, found from this file's path (tests may run from any directory).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func profile(_ name: String) throws -> DeviceProfile {
        try ProfileLoader.load(path: root + "/Hardware/profiles/\(name).yaml")
    }
}

extension Scenario {
    /// A scenario with the real profiles it names already loaded.
    static func testScenario(lines: [ScenarioLine] = [], tcp: [ScenarioTCPPort] = []) throws -> Scenario {
        var scenario = Scenario(file: "test", profilesDirectory: TestPaths.root + "/Hardware/profiles", lines: lines, tcp: tcp)
        try ScenarioLoader.loadProfiles(into: &scenario)
        return scenario
    }
}
