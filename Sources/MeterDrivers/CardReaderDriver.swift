import MeterCore

/// What a card reader reports while it runs.
public enum CardReaderEvent: Sendable, Hashable {
    /// The reader is open and answering; `detail` names it (PN532: its firmware version).
    case ready(detail: String)
    /// A card entered the field: once per presentation, repeats within the debounce time dropped.
    case presented(CardID, atMs: Int64)
    /// The reader stopped answering or its port went away; the driver keeps trying to reopen it
    /// and reports `ready` again when it is back.
    case lost(reason: String)
}

/// A card reader behind some protocol: the card service and the technician commands see only
/// this. Each driver owns a thread of its own for its blocking port or C library.
public protocol CardReaderDriver: Sendable {
    var reader: CardReaderConfig { get }
    /// Opens the reader and reports events until the task is cancelled, reopening the reader
    /// (with back-off) whenever it fails. Returns only on cancellation.
    func run(_ report: @escaping @Sendable (CardReaderEvent) -> Void) async
}
