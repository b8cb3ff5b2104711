import CSQLiteLinked
import Foundation
@testable import CloudSyncCore

/// A real SQLite database (the linked library) with the engine registered, for tests.
final class TestDatabase {
    static let api = SQLiteAPI(routines: cloudsync_linked_routines())

    let path: String
    let handle: OpaquePointer
    let context: SyncContext
    var connection: Connection { context.connection }
    private var isClosed = false

    init(path: String = ":memory:") throws {
        self.path = path
        handle = try Self.api.openDatabase(path: path)
        context = try CloudSyncEngine.register(database: handle, api: Self.api)
    }

    /// A fresh database file in a new temporary directory.
    static func temporaryPath(_ name: String = "test.db") -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent(name).path
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        context.releaseResources()
        Self.api.closeDatabase(handle)
    }

    func execute(_ sql: String) throws { try connection.execute(sql) }

    /// The message `sql` fails with, or nil when it succeeds.
    func errorMessage(_ sql: String) -> String? {
        do {
            try execute(sql)
            return nil
        } catch let error as CloudSyncError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    func rows(_ sql: String, _ arguments: [SQLValue] = []) throws -> [[SQLValue]] {
        try connection.rows(sql, arguments)
    }

    func scalar(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLValue? {
        try connection.scalar(sql, arguments)
    }

    func integer(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int64? {
        try scalar(sql, arguments)?.integerValue
    }

    /// Every row of `table`, ordered by all its columns, for comparing replicas.
    func snapshot(_ table: String) throws -> [[SQLValue]] {
        let count = try rows("SELECT count(*) FROM pragma_table_info(?1)", [.string(table)])[0][0].integerValue!
        let order = (1...count).map(String.init).joined(separator: ", ")
        return try rows("SELECT * FROM \(SQLText.identifier(table)) ORDER BY \(order)")
    }

    /// The feed as rows, in feed order.
    func feed(_ filter: String = "") throws -> [[SQLValue]] {
        try rows("SELECT tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq FROM cloudsync_changes \(filter)")
    }

    /// A payload of the feed's changes (all, or those matching `filter`); nil when none.
    func payload(_ filter: String = "") throws -> [UInt8]? {
        let value = try scalar("SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes \(filter)")
        if case .blob(let bytes)? = value { return bytes }
        return nil
    }

    /// Applies a payload through the SQL function; returns its change count.
    @discardableResult
    func apply(_ payload: [UInt8]) throws -> Int64 {
        try scalar("SELECT cloudsync_payload_decode(?1)", [.blob(payload)])?.integerValue ?? -1
    }

    /// Sends every change of this database to `other`.
    func send(to other: TestDatabase) throws {
        if let payload = try payload() { try other.apply(payload) }
    }
}

/// The todo schema used throughout the tests.
let todoSchema = "CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)"

func todoDatabase(path: String = ":memory:") throws -> TestDatabase {
    let db = try TestDatabase(path: path)
    try db.execute(todoSchema)
    try db.execute("SELECT cloudsync_init('todo')")
    return db
}
