import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error reported by SQLite, with its message and the statement that failed.
public struct SQLiteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Extended SQLite result code.
    public let code: Int32
    /// SQLite's own explanation (`sqlite3_errmsg`).
    public let message: String
    /// The SQL text being prepared or run, when there was one.
    public let statement: String?
    /// Database file concerned.
    public let path: String

    public var description: String {
        var text = "SQLite error \(code) on '\(path)': \(message)"
        if let statement { text += " (statement: \(statement))" }
        return text
    }
}

/// One SQLite connection, used by one thread at a time.
///
/// Not `Sendable`: every connection is confined to the thread (or the lock)
/// that owns it. Opened in `NOMUTEX` mode for that reason.
final class SQLiteDatabase {
    let path: String
    private let handle: OpaquePointer

    /// Opens `path`; creates the file only when `create` is true.
    init(path: String, create: Bool) throws {
        if !create && access(path, F_OK) != 0 {
            throw StoreError.missingStore(path: path)
        }
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw StoreError.sqlite(SQLiteError(code: rc, message: message, statement: nil, path: path))
        }
        sqlite3_extended_result_codes(db, 1)
        self.path = path
        self.handle = db
    }

    deinit {
        // close_v2 defers the close until every statement of this connection is finalized.
        sqlite3_close_v2(handle)
    }

    func error(_ code: Int32, _ sql: String?) -> StoreError {
        .sqlite(SQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), statement: sql, path: path))
    }

    /// The error for a query that should have returned a row and returned none.
    func noRow(_ sql: String) -> StoreError { error(SQLITE_MISMATCH, sql) }

    /// Runs one or more statements that return no rows of interest.
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql) }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        return SQLiteStatement(database: self, handle: statement, sql: sql)
    }

    /// Runs a query expected to return a single integer (a pragma, a count).
    func integer(_ sql: String) throws -> Int64 {
        let statement = try prepare(sql)
        guard try statement.step() else { throw noRow(sql) }
        return statement.int64(0)
    }

    /// Runs a query expected to return a single text value.
    func text(_ sql: String) throws -> String {
        let statement = try prepare(sql)
        guard try statement.step(), let value = statement.text(0) else { throw noRow(sql) }
        return value
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    var changes: Int32 { sqlite3_changes(handle) }

    /// Runs `body` in a write transaction taken at once (`BEGIN IMMEDIATE`), so
    /// concurrent writers wait on the busy timeout instead of failing mid-way.
    /// Rolls back when `body` or the commit throws.
    func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // The transaction may already be gone (the commit failed); a failed rollback adds nothing.
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }
}

/// A prepared statement, reused for every execution.
final class SQLiteStatement {
    let sql: String
    private let database: SQLiteDatabase
    private let handle: OpaquePointer

    fileprivate init(database: SQLiteDatabase, handle: OpaquePointer, sql: String) {
        self.database = database
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    // Binding. Indices are 1-based, as in SQL `?1`.

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Binds a double; NaN is stored as NULL (SQLite's own rule), read back as NaN.
    func bind(_ index: Int32, _ value: Double) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    func bind(_ index: Int32, _ value: String?) throws {
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(sqlite3_bind_text(handle, index, value, -1, csqlite_transient()))
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Advances to the next row. Returns false when the statement is done,
    /// and then resets it so it can be bound and run again.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            sqlite3_reset(handle)
            return false
        default:
            sqlite3_reset(handle)
            throw database.error(rc, sql)
        }
    }

    /// Runs a statement that returns no rows.
    func run() throws {
        while try step() {}
    }

    /// Abandons the remaining rows of a query.
    func reset() { sqlite3_reset(handle) }

    // Reading columns of the current row. Indices are 0-based.

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    /// NULL reads as NaN: the store writes NaN (not measured) as NULL.
    func double(_ column: Int32) -> Double { isNull(column) ? .nan : sqlite3_column_double(handle, column) }
    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: bytes)
    }

    private func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK else { throw database.error(rc, sql) }
    }
}
