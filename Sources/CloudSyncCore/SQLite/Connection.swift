import CSQLiteExtension

/// One SQLite connection as seen by the engine. It does not own the handle: the host opened
/// it and closes it.
///
/// Not `Sendable`: a connection is used from one thread at a time.
public final class Connection {
    /// The `sqlite3 *` this wraps; not owned (the caller closes it).
    public let handle: OpaquePointer
    /// The SQLite routines calls go through (linked, or the loading host's).
    public let api: SQLiteAPI

    /// Wraps an open database handle.
    public init(handle: OpaquePointer, api: SQLiteAPI) {
        self.handle = handle
        self.api = api
    }

    /// Compiles one SQL statement.
    public func prepare(_ sql: String) throws(CloudSyncError) -> Statement {
        var statement: OpaquePointer?
        let rc = api.r.prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw error(rc, sql: sql)
        }
        return Statement(handle: statement, connection: self, sql: sql)
    }

    /// Compiles `sql`, which must be exactly one statement: for SQL text built around a
    /// caller's fragment, where a second statement after a `;` must be refused, not ignored.
    package func prepareSingle(_ sql: String) throws(CloudSyncError) -> Statement {
        var statement: OpaquePointer?
        var rest = ""
        let rc = sql.withCString { text -> Int32 in
            var tail: UnsafePointer<CChar>?
            let rc = api.r.prepare_v2(handle, text, -1, &statement, &tail)
            if let tail { rest = String(cString: tail) }
            return rc
        }
        guard rc == SQLITE_OK, let statement else {
            throw error(rc, sql: sql)
        }
        let prepared = Statement(handle: statement, connection: self, sql: sql)
        guard rest.trimmed.isEmpty else {
            throw CloudSyncError(.misuse, "more than one SQL statement: '\(rest.trimmed)' follows the first", sql: sql)
        }
        return prepared
    }

    /// Runs one or more SQL statements that return no rows of interest.
    public func execute(_ sql: String) throws(CloudSyncError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = api.r.exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? lastErrorMessage
            if let message { api.r.free(message) }
            throw CloudSyncError(.sqlite, text, resultCode: rc, sql: sql)
        }
    }

    /// Runs `sql` with `arguments` and returns the first column of the first row, if any.
    public func scalar(_ sql: String, _ arguments: [SQLValue] = []) throws(CloudSyncError) -> SQLValue? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        guard try statement.step() else { return nil }
        return statement.value(at: 0)
    }

    /// Runs `sql` with `arguments` and returns every row as an array of values.
    public func rows(_ sql: String, _ arguments: [SQLValue] = []) throws(CloudSyncError) -> [[SQLValue]] {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        var result: [[SQLValue]] = []
        let count = statement.columnCount
        while try statement.step() {
            result.append((0..<count).map { statement.value(at: $0) })
        }
        return result
    }

    /// Runs `sql` once with `arguments`.
    public func run(_ sql: String, _ arguments: [SQLValue] = []) throws(CloudSyncError) {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        _ = try statement.step()
    }

    /// Runs `body` inside a savepoint: released on success, rolled back on error. Works both
    /// inside and outside an open transaction.
    public func withSavepoint<T>(_ name: String, _ body: () throws(CloudSyncError) -> T) throws(CloudSyncError) -> T {
        try execute("SAVEPOINT \(name)")
        do throws(CloudSyncError) {
            let result = try body()
            try execute("RELEASE \(name)")
            return result
        } catch {
            try? execute("ROLLBACK TO \(name)")
            try? execute("RELEASE \(name)")
            throw error
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE (`sqlite3_changes`).
    public var changes: Int32 { api.r.changes(handle) }
    /// False while a transaction is open.
    public var isAutocommit: Bool { api.r.get_autocommit(handle) != 0 }
    /// SQLite's message for the last failed call.
    public var lastErrorMessage: String { api.r.errmsg(handle).map { String(cString: $0) } ?? "unknown error" }

    /// A counter that changes whenever a transaction commits on the main database, by this
    /// connection or another one (SQLITE_FCNTL_DATA_VERSION).
    public var dataVersion: UInt32 {
        var version: UInt32 = 0
        _ = api.r.file_control(handle, "main", SQLITE_FCNTL_DATA_VERSION, &version)
        return version
    }

    func error(_ rc: Int32, sql: String? = nil) -> CloudSyncError {
        CloudSyncError(.sqlite, lastErrorMessage, resultCode: rc, sql: sql)
    }
}
