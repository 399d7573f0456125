import MeterCore

/// Turns the stream of card sightings a reader produces (an RDM6300 repeats a card's frame about
/// ten times a second for as long as it stays in the field) into presentations: the same card is a
/// new presentation only after `windowMs` without a sighting of it; another card is one at once.
/// Times are passed in, so tests move them instead of sleeping.
public struct CardDebouncer: Sendable {
    public let windowMs: Int64
    private var lastCard: CardID?
    private var lastSeenMs: Int64 = 0

    public init(windowMs: Int) {
        self.windowMs = Int64(max(0, windowMs))
    }

    /// Records a sighting of `card` at monotonic time `nowMs`; true if it starts a presentation.
    public mutating func sighted(_ card: CardID, atMs nowMs: Int64) -> Bool {
        defer {
            lastCard = card
            lastSeenMs = nowMs
        }
        guard let lastCard, lastCard == card else { return true }
        return nowMs - lastSeenMs >= windowMs
    }

    /// Forgets the last card (the reader was reopened: what it sees next is a new presentation).
    public mutating func reset() {
        lastCard = nil
    }
}

/// The wait before reopening a reader that failed: 500 ms, doubling to 10 s, back to the first
/// wait once the reader opened again.
public struct ReopenBackoff: Sendable {
    public let firstMs: Int
    public let maxMs: Int
    public private(set) var nextMs: Int

    public init(firstMs: Int = 500, maxMs: Int = 10_000) {
        self.firstMs = firstMs
        self.maxMs = max(firstMs, maxMs)
        nextMs = firstMs
    }

    /// The delay to wait now; the next one is twice as long (up to the cap).
    public mutating func next() -> Int {
        defer { nextMs = min(maxMs, nextMs * 2) }
        return nextMs
    }

    public mutating func reset() { nextMs = firstMs }
}
