import CSQLiteLinked
import CloudSyncCore
import CloudSyncTestSupport
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// The same tables in an engine-synchronized SQLite database and in a PostgreSQL schema with
/// `PostgresTriggers`, the same statements run on both, and their clock tables compared.
///
/// Used by one test task at a time (not Sendable).
final class TriggerDifferential {
    let tables: [DifferentialTable]
    /// The PostgreSQL schema, a name that needs quoting.
    let schema = "cs \"diff\" $$"
    let site: [UInt8]
    /// The PostgreSQL database, and the connection the statements run on.
    let database: PostgresTestDatabase
    let postgres: PostgresConnection
    private let handle: OpaquePointer
    private let context: SyncContext

    private init(tables: [DifferentialTable], database: PostgresTestDatabase, postgres: PostgresConnection) async throws {
        self.tables = tables
        self.database = database
        self.postgres = postgres
        handle = try Device.api.openDatabase(path: ":memory:")
        context = try CloudSyncEngine.register(database: handle, api: Device.api)
        var site: [UInt8] = []
        for table in tables {
            try context.connection.execute(table.sqliteCreate)
            site = try context.initialize(table: table.name, force: true)
        }
        self.site = site
        try await execute("CREATE SCHEMA \(DualStatement.quoted(schema))")
        for statement in PostgresTriggers.clockSQL(schema: schema, siteID: site) {
            try await execute(statement)
        }
        for table in tables {
            try await execute(table.postgresCreate(schema: schema))
            let key = table.key.map { (name: $0.name, type: DifferentialTable.postgresType($0.declared)) }
            for statement in PostgresTriggers.tableSQL(schema: schema, table: table.name, key: key, columns: table.columns.map(\.name)) {
                try await execute(statement)
            }
        }
    }

    deinit {
        context.releaseResources()
        _ = Device.api.closeDatabase(handle)
    }

    /// Runs `body` with both databases set up for `tables` (PostgreSQL: a fresh database).
    static func with(_ tables: [DifferentialTable] = DifferentialTable.all, _ body: (TriggerDifferential) async throws -> Void) async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withConnection { connection in
                let differential = try await TriggerDifferential(tables: tables, database: database, postgres: connection)
                try await body(differential)
            }
        }
    }

    /// Runs `sql` on PostgreSQL and returns its rows, every column read as text (NULL: nil).
    @discardableResult
    func execute(_ sql: String) async throws -> [[String?]] {
        var result: [[String?]] = []
        do {
            for try await row in try await postgres.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger) {
                result.append(try row.makeRandomAccess().map { try $0.decode(String?.self) })
            }
        } catch {
            throw TestFailure("PostgreSQL: \(sql): \(String(reflecting: error))")
        }
        return result
    }

    /// Runs `statement` on both databases.
    func run(_ statement: DualStatement) async throws {
        do {
            try context.connection.execute(statement.sqlite)
        } catch {
            throw TestFailure("SQLite: \(statement.sqlite): \(error)")
        }
        try await execute(statement.postgres(schema: schema))
    }

    func run(_ statements: [DualStatement]) async throws {
        for statement in statements { try await run(statement) }
    }

    /// The clocks of `table` in SQLite: key values, col_name, col_version, db_version, seq,
    /// sorted; every site must be the local one (ordinal 0).
    func sqliteClocks(_ table: DifferentialTable) throws -> [[String]] {
        let rows = try context.connection.rows(
            "SELECT pk, col_name, col_version, db_version, site_id, seq FROM \(DualStatement.quoted(table.name + "_cloudsync"))")
        return try rows.map { row in
            guard case .blob(let pk) = row[0] else { throw TestFailure("SQLite pk is not a blob: \(row)") }
            #expect(row[4] == .integer(0), "SQLite clock of another site: \(row)")
            return try PrimaryKeyCodec.decode(pk).map(DualStatement.display)
                + [row[1].stringValue ?? "?"] + row[2...3].map(DualStatement.display) + [DualStatement.display(row[5])]
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The clocks of `table` in PostgreSQL, as `sqliteClocks`; every site must be `site`.
    func postgresClocks(_ table: DifferentialTable) async throws -> [[String]] {
        let keys = table.key.indices.map { "k\($0 + 1)::text" }.joined(separator: ", ")
        let rows = try await execute(
            "SELECT \(keys), col_name, col_version::text, db_version::text, seq::text, encode(site_id, 'hex') FROM \(DualStatement.quoted(schema)).\(DualStatement.quoted(table.name + "_cloudsync"))")
        return rows.map { row in
            #expect(row.last == Hex.encode(site), "PostgreSQL clock of another site: \(row)")
            return row.dropLast().map { $0 ?? "NULL" }
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The rows of `table` in SQLite, every value as text, sorted.
    func sqliteRows(_ table: DifferentialTable) throws -> [[String]] {
        let columns = table.allColumns.map { DualStatement.quoted($0.name) }.joined(separator: ", ")
        return try context.connection.rows("SELECT \(columns) FROM \(DualStatement.quoted(table.name))")
            .map { $0.map(DualStatement.display) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The rows of `table` in PostgreSQL, as `sqliteRows`.
    func postgresRows(_ table: DifferentialTable) async throws -> [[String]] {
        let columns = table.allColumns.map { column in
            let name = DualStatement.quoted(column.name)
            return column.declared == "BLOB" ? "encode(\(name), 'hex')" : "\(name)::text"
        }.joined(separator: ", ")
        return try await execute("SELECT \(columns) FROM \(DualStatement.quoted(schema)).\(DualStatement.quoted(table.name))")
            .map { $0.map { $0 ?? "NULL" } }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Expects equal rows and equal clocks in every table; returns false at the first difference.
    @discardableResult
    func expectSame(_ note: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
        for table in tables {
            let (sqliteRows, postgresRows) = (try sqliteRows(table), try await postgresRows(table))
            guard sqliteRows == postgresRows else {
                Issue.record("\(note()): rows of \(table.name) differ\nSQLite:     \(sqliteRows)\nPostgreSQL: \(postgresRows)", sourceLocation: sourceLocation)
                return false
            }
            let (sqlite, postgres) = (try sqliteClocks(table), try await postgresClocks(table))
            guard sqlite == postgres else {
                Issue.record(
                    "\(note()): clocks of \(table.name) differ (key…, col_name, col_version, db_version, seq)\nSQLite only:     \(sqlite.filter { !postgres.contains($0) })\nPostgreSQL only: \(postgres.filter { !sqlite.contains($0) })",
                    sourceLocation: sourceLocation)
                return false
            }
        }
        return true
    }
}
