import Foundation
import Logging
import PostgresNIO

/// A fresh PostgreSQL database for one test: `CREATE DATABASE t_<uuid>` on the test cluster,
/// dropped by ``drop()`` (best effort).
///
/// The cluster: `$CLOUDSYNC_TEST_POSTGRES_URL` (`postgres://USER@HOST:PORT/DB`, as
/// `scripts/postgres start` prints it; scripts/test and CI start one for the whole run), else
/// a private cluster this test process starts once with `scripts/postgres` in a temporary
/// directory and stops at exit (best effort: a crashed process leaves it running).
/// Tests that need PostgreSQL are enabled by ``isAvailable``.
public struct PostgresTestDatabase: Sendable {
    /// The database's name (`t_` and 32 hex digits).
    public let name: String
    /// The database's URL, `postgres://USER@HOST:PORT/NAME`.
    public let url: String
    /// How to connect to the database.
    public let configuration: PostgresConnection.Configuration
    private let server: PostgresTestServer

    /// The environment variable naming the cluster to use.
    public static let environmentKey = "CLOUDSYNC_TEST_POSTGRES_URL"

    /// True when a cluster is given, or PostgreSQL is installed so that one can be started.
    /// Runs no process.
    public static var isAvailable: Bool {
        if ProcessInfo.processInfo.environment[environmentKey].map({ !$0.isEmpty }) == true { return true }
        return PostgresScript.isInstalled
    }

    /// Creates a new, empty database.
    public static func create() async throws -> PostgresTestDatabase {
        let server = try await cluster.value.get()
        let name = "t_" + UUID().uuidString.lowercased().replacing("-", with: "")
        try await server.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE template0"), logger: Self.logger)
        }
        return PostgresTestDatabase(name: name, server: server)
    }

    /// Runs `body` with a new database, dropped afterwards (also when `body` throws).
    public static func with<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresTestDatabase) async throws -> sending Value
    ) async throws -> sending Value {
        let database = try await create()
        do {
            let result = try await body(database)
            await database.drop()
            return result
        } catch {
            await database.drop()
            throw error
        }
    }

    private init(name: String, server: PostgresTestServer) {
        self.name = name
        self.server = server
        var configuration = server.configuration
        configuration.database = name
        self.configuration = configuration
        self.url = server.url(database: name)
    }

    /// Opens a new connection to the database; the caller closes it.
    public func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: configuration, id: Self.nextConnectionID(), logger: Self.logger)
    }

    /// Runs `body` with a new connection to the database, closed afterwards.
    public func withConnection<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Value
    ) async throws -> sending Value {
        let connection = try await connect()
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Drops the database, closing its remaining connections. Errors are ignored.
    public func drop() async {
        try? await server.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: Self.logger)
        }
    }

    // MARK: - The cluster

    /// A logger that drops everything (PostgresNIO requires one).
    public static let logger = Logger(label: "cloudsync.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A connection id for PostgresNIO's log metadata.
    static func nextConnectionID() -> Int { Int.random(in: 1...Int(Int32.max)) }

    /// The cluster of this process, found or started on first use. A task, so that tests
    /// waiting for it are suspended rather than blocking threads of the concurrency pool.
    private static let cluster = Task { await findOrStartCluster() }

    /// Where this process starts its own cluster when none is given.
    private static let privateDirectory = FileManager.default.temporaryDirectory
        .appendingPathComponent("cloudsync-pg-\(UUID().uuidString)")

    private static func findOrStartCluster() async -> Result<PostgresTestServer, PostgresTestError> {
        if let url = ProcessInfo.processInfo.environment[environmentKey], !url.isEmpty {
            return Result { () throws(PostgresTestError) in try PostgresTestServer(url: url) }
        }
        // initdb and the start take a second or two: on a thread of their own.
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: startPrivateCluster()) }.start()
        }
    }

    /// Starts a cluster in `privateDirectory` with scripts/postgres, stopped at exit.
    private static func startPrivateCluster() -> Result<PostgresTestServer, PostgresTestError> {
        let cluster = privateDirectory.appendingPathComponent("cluster").path
        let log = privateDirectory.appendingPathComponent("scripts-postgres.log").path
        do {
            try FileManager.default.createDirectory(at: privateDirectory, withIntermediateDirectories: true)
            // As root, the cluster belongs to the postgres user, who must reach it.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: privateDirectory.path)
        } catch {
            return .failure(PostgresTestError("cannot create \(privateDirectory.path): \(error)"))
        }
        atexit {
            let directory = PostgresTestDatabase.privateDirectory
            _ = PostgresScript.run(["stop", directory.appendingPathComponent("cluster").path], log: "/dev/null")
            try? FileManager.default.removeItem(at: directory)
        }
        guard PostgresScript.run(["start", cluster], log: log) == 0,
              let port = try? String(contentsOfFile: cluster + "/cloudsync.port", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines) else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return .failure(PostgresTestError("scripts/postgres start \(cluster) failed: \(output)"))
        }
        return Result { () throws(PostgresTestError) in try PostgresTestServer(url: "postgres://postgres@127.0.0.1:\(port)/postgres") }
    }
}
