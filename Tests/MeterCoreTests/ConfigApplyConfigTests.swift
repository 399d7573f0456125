import Foundation
import Testing
@testable import MeterCore

/// What `config apply` and a reload rest on: the `apply:` section, the diff a technician reviews,
/// and the history kept beside the config file.
@Suite struct ConfigApplyConfigTests {
    static let base = """
        gateway: gw-1
        buses:
          - {id: rs485, type: serial, port: /dev/ttyUSB0, baud: 9600, parity: none}
          - {id: plant, type: tcp, host: 10.0.0.5, port: 502}
        devices:
          - {id: m1, bus: rs485, unit: 1, profile: eastron-sdm120}
          - {id: m2, bus: rs485, unit: 2, profile: eastron-sdm120}
          - {id: main, bus: plant, unit: 1, profile: eastron-sdm630}

        """

    func site(_ text: String) throws -> SiteConfig {
        try SiteConfigLoader.load(text: text, file: "site.yaml", profiles: try Repo.profiles())
    }

    @Test func applyDefaultsAndLimits() throws {
        let defaults = try site(Self.base).apply
        #expect(defaults == ConfigApplySettings())
        #expect(defaults.devicesThatMustAnswer(of: 3) == 2)
        let set = try site(Self.base + "apply: {health_deadline_s: 30, min_answering_percent: 100, keep: 5, local: window_or_root}\n").apply
        #expect(set.healthDeadlineSeconds == 30 && set.minAnsweringPercent == 100 && set.keep == 5 && set.local == .windowOrRoot)
        #expect(set.devicesThatMustAnswer(of: 3) == 3)
        let errors = siteErrors(Self.base + "apply: {health_deadline_s: 0, min_answering_percent: 150, local: anyone, retries: 2}\n",
                                file: "site.yaml", profiles: try Repo.profiles())
        #expect(errors.contains { $0.hasPrefix("site.yaml:9:") && $0.contains("retries") }, "\(errors)")
        #expect(errors.contains { $0.contains("health_deadline_s") }, "\(errors)")
        #expect(errors.contains { $0.contains("min_answering_percent") }, "\(errors)")
        #expect(errors.contains { $0.contains("unknown local apply rule 'anyone'") }, "\(errors)")
    }

    @Test func theDiffNamesWhatWasAddedRemovedAndChanged() throws {
        let old = try site(Self.base)
        let new = try site(Self.base
            .replacingOccurrences(of: "baud: 9600", with: "baud: 19200")
            .replacingOccurrences(of: "  - {id: m2, bus: rs485, unit: 2, profile: eastron-sdm120}\n", with: "")
            .replacingOccurrences(of: "{id: main, bus: plant, unit: 1, profile: eastron-sdm630}",
                                  with: "{id: main, bus: plant, unit: 1, profile: eastron-sdm630, poll_interval: 5s}\n  - {id: m3, bus: rs485, unit: 3, profile: eastron-sdm120}")
            + "apply: {keep: 3}\n")
        let diff = SiteDiff(from: old, to: new)
        #expect(diff.lines == [
            "buses:",
            "  ~ rs485: line 9600 8N1 → 19200 8N1",
            "devices:",
            "  ~ main: poll_interval_ms 10000 → 5000",
            "  + m3 (eastron-sdm120 on rs485 unit 3)",
            "  - m2",
            "changed sections: apply",
        ])
        #expect(SiteDiff(from: old, to: old).isEmpty)
    }

    @Test func historyKeepsTheNewestEntriesInOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let history = ConfigHistory(configPath: directory + "/site.yaml", keep: 3)
        #expect(history.entries().isEmpty)
        for n in 1...5 {
            try history.record("gateway: gw-\(n)\n", outcome: n == 4 ? .rolledBack : .applied, origin: n == 1 ? "start" : "remote",
                               nowMs: 1_796_400_000_000 + Int64(n) * 1000)
        }
        let entries = history.entries()
        #expect(entries.map(\.number) == [3, 4, 5])
        #expect(entries.map(\.outcome) == [.applied, .rolledBack, .applied])
        #expect(entries.last?.time == "20261204T160005Z" && entries.last?.origin == "remote")
        #expect(readTextFile(entries[0].path) == "gateway: gw-3\n")
        #expect(history.lastApplied(excluding: 5)?.number == 3)
    }

    @Test func anAtomicReplaceLeavesNoTemporaryFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/site.yaml"
        try AtomicFile.replace(path, with: "one\n")
        try AtomicFile.replace(path, with: "two\n")
        #expect(readTextFile(path) == "two\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["site.yaml"])
        #expect(throws: FileWriteError.self) { try AtomicFile.replace(directory + "/missing/site.yaml", with: "x") }
        // A file that exists keeps its owner and mode (root applying the service user's config).
        #expect(chmod(path, 0o600) == 0 && chown(path, 65534, 65534) == 0)
        try AtomicFile.replace(path, with: "three\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(attributes[.ownerAccountID] as? Int == 65534 && attributes[.groupOwnerAccountID] as? Int == 65534)
    }
}
