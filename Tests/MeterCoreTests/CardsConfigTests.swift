import Foundation
import Testing
@testable import MeterCore

/// The site config's `cards:` section: privacy of card ids, the key file of keyed hashing (read
/// and checked at load), window and session lengths; mistakes at file:line:column.
@Suite struct CardsConfigTests {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    /// A site file in a directory of its own, with `key.hex` beside it (mode `mode`).
    func site(_ cards: String, key: String = Self.key, mode: Int = 0o600) throws -> (path: String, directory: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let keyPath = directory + "/key.hex"
        try (key + "\n").write(toFile: keyPath, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: keyPath)
        let path = directory + "/site.yaml"
        try ("gateway: gw-1\n" + cards).write(toFile: path, atomically: false, encoding: .utf8)
        return (path, directory)
    }

    func load(_ path: String) throws(ConfigErrors) -> SiteConfig {
        try SiteConfigLoader.load(path: path, profilesDirectory: Repo.path("Hardware/profiles"))
    }

    func errors(_ path: String) -> [String] {
        do {
            _ = try load(path)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func withoutTheSectionIdsAreMasked() throws {
        let (path, directory) = try site("")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try load(path).cards == CardSettings(idPrivacy: .mask))
    }

    @Test func hashReadsTheKeyFileBesideTheConfig() throws {
        let (path, directory) = try site("""
            cards:
              hash_key_file: key.hex
              maintenance_window_s: 600
              session_max_s: 7200
            """)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cards = try load(path).cards
        #expect(cards.idPrivacy == .hash)
        #expect(cards.hashKey?.count == 32)
        #expect(cards.hashKey?.first == 0x00 && cards.hashKey?.last == 0xFF)
        #expect(cards.maintenanceWindowSeconds == 600)
        #expect(cards.sessionMaxSeconds == 7200)
    }

    @Test func mistakesAreReportedWhereTheyAre() throws {
        let (path, directory) = try site("""
            cards:
              id_privacy: plain
              maintenance_window_s: 5
              session_max_s: forever
              colour: red
            """)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let found = errors(path)
        #expect(found.contains("\(path):3:15: unknown id_privacy 'plain' (expected one of: hash, mask, clear)"), "\(found)")
        #expect(found.contains("\(path):4:25: maintenance_window_s 5 out of range 10–86400"), "\(found)")
        #expect(found.contains { $0.hasPrefix("\(path):5:18: ") && $0.contains("session_max_s") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("\(path):6:3: unknown key 'colour' in cards") }, "\(found)")
    }

    @Test func hashWithoutAKeyFileIsRefused() throws {
        let (path, directory) = try site("cards:\n  id_privacy: hash\n")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(errors(path).contains { $0.hasPrefix("\(path):3:15: cards: id_privacy hash needs hash_key_file") }, "\(errors(path))")
    }

    @Test(arguments: [
        ("00112233", 0o600, "holds 4 bytes; a card-id key needs at least 32"),
        ("not hex at all", 0o600, "does not hold a key in hex"),
        (CardsConfigTests.key, 0o644, "is readable by others (mode 644); chmod 600 it"),
    ])
    func aBadKeyFileIsRefusedAtItsLine(key: String, mode: Int, problem: String) throws {
        let (path, directory) = try site("cards:\n  hash_key_file: key.hex\n", key: key, mode: mode)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let found = errors(path)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("\(path):3:18: hash_key_file 'key.hex' (\(directory)/key.hex): ") == true, "\(found)")
        #expect(found.first?.contains(": " + problem) == true, "\(found)")
    }

    @Test func aMissingKeyFileIsNamed() throws {
        let (path, directory) = try site("cards:\n  hash_key_file: nowhere.key\n")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(errors(path) == ["\(path):3:18: hash_key_file 'nowhere.key' (\(directory)/nowhere.key): cannot read it"])
    }
}
