/// What can go wrong opening, writing or reading a store; every case names the file concerned.
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SQLite refused an operation; carries its message and the statement.
    case sqlite(SQLiteError)
    /// No file at `path` (reading never creates a store).
    case missingStore(path: String)
    /// The file is an SQLite database of some other application.
    case notAStore(path: String)
    /// The store was written by a newer cellbench whose schema this one does not know.
    case newerSchema(path: String, found: Int64, known: Int64)
    /// The file system refused write-ahead logging, without which the durability contract cannot hold.
    case walUnavailable(path: String, journalMode: String)
    /// A channel name not registered in the store.
    case unknownChannel(name: String, path: String)
    /// A writer option out of range.
    case invalidOption(name: String, value: String, expected: String)
    /// The writer has finished and closed its connection.
    case closed(path: String)
    /// The writer stopped with records it could not commit.
    case unflushed(records: Int, path: String, cause: String)

    public var description: String {
        switch self {
        case .sqlite(let error):
            return error.description
        case .missingStore(let path):
            return "no store at '\(path)'"
        case .notAStore(let path):
            return "'\(path)' is an SQLite database but not a cellbench store"
        case .newerSchema(let path, let found, let known):
            return "store '\(path)' has schema version \(found), newer than the \(known) this cellbench knows; use a newer cellbench"
        case .walUnavailable(let path, let mode):
            return "store '\(path)': write-ahead logging unavailable on this file system (journal mode stays '\(mode)')"
        case .unknownChannel(let name, let path):
            return "no channel named '\(name)' in store '\(path)'"
        case .invalidOption(let name, let value, let expected):
            return "store writer \(name) \(value) is invalid: expected \(expected)"
        case .closed(let path):
            return "store '\(path)' is closed"
        case .unflushed(let records, let path, let cause):
            return "store '\(path)': \(records) records could not be committed: \(cause)"
        }
    }
}
