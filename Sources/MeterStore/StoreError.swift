import CSQLite

/// What went wrong in the outbox, with the store's path, the operation and SQLite's own message.
///
/// A struct around a small kind enum, so that new cases never break callers that switch on `kind`
/// with a default.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The file could not be opened or created (permissions, missing directory, read-only medium).
        case open
        /// Not a database, a damaged one, or a schema from another program or a newer agent.
        case corrupt
        /// The disk (or the configured page limit) is full: nothing was written; retry later.
        case full
        /// Another connection holds a lock longer than the busy timeout.
        case busy
        /// The store was opened read-only (`meteragent buffer …`) and a write was asked for.
        case readOnly
        /// The store was closed before the operation ran.
        case closed
        /// The store thread's bounded queue is full.
        case queueFull
        /// Anything else SQLite reports (I/O errors, misuse).
        case other
    }

    public var kind: Kind
    /// SQLite's extended result code, 0 when the error is not SQLite's.
    public var code: Int32
    public var path: String
    /// What the store was doing: `open`, `append`, `delete`, …
    public var operation: String
    public var message: String

    public init(_ kind: Kind, code: Int32 = 0, path: String, operation: String, message: String) {
        self.kind = kind
        self.code = code
        self.path = path
        self.operation = operation
        self.message = message
    }

    /// Classifies an SQLite result code.
    init(sqlite code: Int32, path: String, operation: String, message: String) {
        let kind: Kind = switch code & 0xFF {
        case SQLITE_FULL: .full
        case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupt
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        case SQLITE_READONLY: .readOnly
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_AUTH: .open
        default: .other
        }
        self.init(kind, code: code, path: path, operation: operation, message: message)
    }

    /// `store /var/lib/meteragent/outbox.db: append: database or disk is full (sqlite 13)`
    public var description: String {
        "store \(path): \(operation): \(message)" + (code != 0 ? " (sqlite \(code))" : "")
    }
}
