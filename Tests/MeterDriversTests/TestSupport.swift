import Foundation
import MeterCore
import MeterDrivers
import Synchronization

/// Paths into the repository, found from this file so tests run from any working directory.
enum Paths {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var profiles: String { repoRoot.appendingPathComponent("Hardware/profiles").path }
}

/// What a card reader driver reported, in order.
final class ReaderEventLog: Sendable {
    private let events = Mutex<[CardReaderEvent]>([])
    func append(_ event: CardReaderEvent) { events.withLock { $0.append(event) } }
    var all: [CardReaderEvent] { events.withLock { $0 } }
    var presented: [CardID] {
        all.compactMap { if case let .presented(card, _) = $0 { card } else { nil } }
    }
    func count(_ match: (CardReaderEvent) -> Bool) -> Int { all.filter(match).count }
    static func isReady(_ e: CardReaderEvent) -> Bool { if case .ready = e { true } else { false } }
    static func isLost(_ e: CardReaderEvent) -> Bool { if case .lost = e { true } else { false } }

    /// Polls until `condition` holds or `seconds` pass; returns whether it held.
    func waitUntil(_ seconds: Double, _ condition: (ReaderEventLog) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(self) { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return condition(self)
    }
}
