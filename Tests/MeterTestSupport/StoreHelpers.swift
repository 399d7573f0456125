import Foundation
import MeterStore

/// A fresh directory per test, removed when the value goes away.
public final class TemporaryDirectory {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("meteragent-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public var files: [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path))?.sorted() ?? [] }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// One JSON object (a stored record's payload), nil when the text is not one.
public func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
}

extension OutboxStore {
    /// Every record, in order.
    public func everything() async throws -> [StoredRecord] {
        try await export(since: 0, limit: .max)
    }
}
