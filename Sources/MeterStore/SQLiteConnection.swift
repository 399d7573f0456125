import CSQLite

/// The one owner of a `sqlite3*`. Confined to the store thread: it is deliberately not `Sendable`,
/// so the compiler refuses to let it leave that thread. Closed in `deinit` (`sqlite3_close_v2`
/// waits for statements that are still alive, so the order of deinits does not matter).
final class SQLiteConnection {
    let handle: OpaquePointer
    let path: String

    init(path: String, readOnly: Bool) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        // NOMUTEX: this connection is used by one thread only, so SQLite's own mutexes are overhead.
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw StoreError(sqlite: rc, path: path, operation: "open", message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ operation: String) -> StoreError {
        StoreError(sqlite: rc, path: path, operation: operation, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements that return no rows of interest.
    func execute(_ sql: String, _ operation: String) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, operation) }
    }

    func prepare(_ sql: String, _ operation: String) throws(StoreError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, operation) }
        return SQLiteStatement(statement, connection: self, operation: operation)
    }

    /// The first column of the first row as an integer (pragmas, counts); nil when there is no row.
    func integer(_ sql: String, _ operation: String) throws(StoreError) -> Int64? {
        let statement = try prepare(sql, operation)
        return try statement.step() ? statement.int64(0) : nil
    }

    func text(_ sql: String, _ operation: String) throws(StoreError) -> String? {
        let statement = try prepare(sql, operation)
        return try statement.step() ? statement.text(0) : nil
    }

    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func setBusyTimeout(ms: Int32) { sqlite3_busy_timeout(handle, ms) }
}

/// The one owner of a `sqlite3_stmt*`, finalized in `deinit`. Keeps its connection alive.
final class SQLiteStatement {
    private let handle: OpaquePointer
    private let connection: SQLiteConnection
    private let operation: String

    init(_ handle: OpaquePointer, connection: SQLiteConnection, operation: String) {
        self.handle = handle
        self.connection = connection
        self.operation = operation
    }

    deinit { sqlite3_finalize(handle) }

    /// Clears the previous run's state and bindings so a cached statement can run again.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ value: Int64, at index: Int32) throws(StoreError) {
        let rc = sqlite3_bind_int64(handle, index, value)
        guard rc == SQLITE_OK else { throw connection.error(rc, operation) }
    }

    func bind(_ value: String, at index: Int32) throws(StoreError) {
        // TRANSIENT: SQLite copies the bytes, so Swift's temporary C string may go away at once.
        let rc = value.withCString { sqlite3_bind_text(handle, index, $0, -1, meteragent_sqlite_transient()) }
        guard rc == SQLITE_OK else { throw connection.error(rc, operation) }
    }

    func bindReal(_ value: Double, at index: Int32) throws(StoreError) {
        let rc = sqlite3_bind_double(handle, index, value)
        guard rc == SQLITE_OK else { throw connection.error(rc, operation) }
    }

    func bindNull(at index: Int32) throws(StoreError) {
        let rc = sqlite3_bind_null(handle, index)
        guard rc == SQLITE_OK else { throw connection.error(rc, operation) }
    }

    /// Steps once: true when a row is ready, false when the statement is done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = connection.error(rc, operation)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it for reuse.
    func run() throws(StoreError) {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}
