import Foundation
import MeterStore

// The few helpers StoreSinkTests shares with MeterStoreTests (StoreTestSupport.swift there),
// copied: test targets cannot import each other.

/// A fresh directory per test, removed when the value goes away.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("meteragent-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
}

extension OutboxStore {
    /// Every record, in order.
    func everything() async throws -> [StoredRecord] {
        try await export(since: 0, limit: .max)
    }
}
