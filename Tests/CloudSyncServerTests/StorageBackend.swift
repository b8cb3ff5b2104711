import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// The storage backends the server tests run against: `@Test(arguments: StorageBackend.allCases)`.
///
/// PostgreSQL tests use a fresh database of the test cluster (`PostgresTestDatabase`); when
/// PostgreSQL is not installed and no cluster is given, their `.postgres` cases are cancelled
/// (shown as skipped), as scripts/test announces.
enum StorageBackend: String, CaseIterable, Sendable, CustomStringConvertible, CustomTestStringConvertible {
    case embedded
    case postgres

    var description: String {
        switch self {
        case .embedded: "embedded SQLite"
        case .postgres: "PostgreSQL"
        }
    }

    var testDescription: String { description }

    /// Whether PostgreSQL can be used by this test process (checked once).
    static let postgresAvailable = PostgresTestDatabase.isAvailable

    /// Cancels the current test case when this backend cannot run here.
    func requireAvailable() throws {
        if self == .postgres, !Self.postgresAvailable {
            try Test.cancel("PostgreSQL is not installed and \(PostgresTestDatabase.environmentKey) is not set")
        }
    }
}

/// An empty storage of one backend, and where its data lives: a temporary data directory, or
/// a fresh PostgreSQL database.
struct TestStorage: Sendable {
    enum Location: Sendable {
        case directory(URL)
        case postgres(PostgresTestDatabase)
    }

    let backend: StorageBackend
    let storage: any SyncStorage
    let location: Location
    let configuration: ServerConfiguration

    static func make(_ backend: StorageBackend, configuration: ServerConfiguration = ServerConfiguration(port: 0), logger: Logger = quietLogger) async throws -> TestStorage {
        try backend.requireAvailable()
        switch backend {
        case .embedded:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-server-tests-\(UUID().uuidString)")
            let storage = try EmbeddedStorage(directory: directory, configuration: configuration, logger: logger)
            return TestStorage(backend: backend, storage: storage, location: .directory(directory), configuration: configuration)
        case .postgres:
            let database = try await PostgresTestDatabase.create()
            do {
                let storage = try await openPostgres(database.url, configuration: configuration, logger: logger)
                return TestStorage(backend: backend, storage: storage, location: .postgres(database), configuration: configuration)
            } catch {
                await database.drop()
                throw error
            }
        }
    }

    /// A PostgreSQL storage on `url` with the tests' settings. Few connections per instance:
    /// many tests run at once against one cluster.
    static func openPostgres(_ url: String, configuration: ServerConfiguration = ServerConfiguration(port: 0), logger: Logger = quietLogger) async throws -> PostgresStorage {
        try await PostgresStorage(url: url, payloadLimits: configuration.payloadLimits, maxConnections: 4, logger: logger)
    }

    /// The data directory (embedded only).
    var directory: URL {
        get throws {
            guard case .directory(let directory) = location else { throw TestFailure("\(backend) storage has no data directory") }
            return directory
        }
    }

    /// The embedded storage (embedded only).
    var embedded: EmbeddedStorage {
        get throws {
            guard let storage = storage as? EmbeddedStorage else { throw TestFailure("not an embedded storage: \(backend)") }
            return storage
        }
    }

    /// The PostgreSQL database (PostgreSQL only).
    var postgres: PostgresTestDatabase {
        get throws {
            guard case .postgres(let database) = location else { throw TestFailure("\(backend) storage has no PostgreSQL database") }
            return database
        }
    }

    /// Another storage instance on the same data, as the CLI or a second server would open
    /// it. The caller closes it.
    func openAnother() async throws -> any SyncStorage {
        switch location {
        case .directory(let directory):
            try EmbeddedStorage(directory: directory, configuration: configuration, logger: quietLogger)
        case .postgres(let database):
            try await Self.openPostgres(database.url, configuration: configuration)
        }
    }

    /// Runs `body` with another storage instance on the same data (`openAnother`), closed
    /// afterwards (awaited, whether `body` succeeds or throws).
    func withAnotherStorage(_ body: (any SyncStorage) async throws -> Void) async throws {
        let another = try await openAnother()
        try await finally(await body(another)) { await another.close() }
    }

    /// Runs `sql` in managed database `database`, read outside the storage: a separate SQLite
    /// connection to its file, or a PostgreSQL connection with `search_path` set to its schema.
    func query(_ sql: String, database: String) async throws -> [[SQLValue]] {
        switch location {
        case .directory:
            let connection = try SQLiteConnection(path: try embedded.databasePath(database), engine: false, setup: "PRAGMA busy_timeout = 5000")
            defer { connection.close() }
            return try connection.connection.rows(sql)
        case .postgres(let postgres):
            return try await postgres.withConnection { connection in
                let schema = try await Self.schemaName(of: database, connection: connection)
                try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(SQLText.identifier(schema))"), logger: PostgresTestDatabase.logger)
                var rows: [[SQLValue]] = []
                for row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger).collect() {
                    rows.append(try row.map(Self.sqlValue))
                }
                return rows
            }
        }
    }

    /// The PostgreSQL schema of managed database `database`.
    static func schemaName(of database: String, connection: PostgresConnection) async throws -> String {
        guard let row = try await connection.query("SELECT schema_name FROM cloudsync.databases WHERE name = \(database)", logger: PostgresTestDatabase.logger).collect().first else {
            throw TestFailure("database \(database) is not in cloudsync.databases")
        }
        return try row.decode(String.self)
    }

    /// A PostgreSQL cell as the engine value it stands for (docs/postgres.md, "Types").
    static func sqlValue(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int8: return .integer(try cell.decode(Int64.self))
        case .float4: return .real(Double(try cell.decode(Float.self)))
        case .float8: return .real(try cell.decode(Double.self))
        case .numeric: return numericValue(try cell.decode(Decimal.self))
        case .text, .varchar, .bpchar, .name: return .string(try cell.decode(String.self))
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        default: throw TestFailure("no SQLValue for PostgreSQL type \(cell.dataType) (column \(cell.columnName))")
        }
    }

    /// NUMERIC: an integer when integral and in range, else a real.
    static func numericValue(_ decimal: Decimal) -> SQLValue {
        let text = decimal.description
        let parts = text.split(separator: ".", maxSplits: 1)
        if parts.count == 1 || parts[1].allSatisfy({ $0 == "0" }), let integer = Int64(parts[0]) {
            return .integer(integer)
        }
        return .real(Double(text) ?? .nan)
    }

    /// Closes the storage (unless the test already did) and removes its data.
    func destroy(close: Bool = true) async {
        if close { await storage.close() }
        switch location {
        case .directory(let directory): try? FileManager.default.removeItem(at: directory)
        case .postgres(let database): await database.drop()
        }
    }
}

/// Runs `body` with an empty storage of `backend`, destroyed afterwards.
func withStorage(_ backend: StorageBackend, _ body: (TestStorage) async throws -> Void) async throws {
    let storage = try await TestStorage.make(backend)
    try await finally(await body(storage)) { await storage.destroy() }
}

/// Runs `body`, then `cleanup`, awaited, whether `body` succeeds or throws.
func finally<T>(_ body: @autoclosure () async throws -> T, _ cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
