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
    public static var isAvailable: Bool {
        if ProcessInfo.processInfo.environment[environmentKey].map({ !$0.isEmpty }) == true { return true }
        return (try? runScript(["bin"])) != nil
    }

    /// Creates a new, empty database.
    public static func create() async throws -> PostgresTestDatabase {
        let server = try cluster.get()
        let name = "t_" + UUID().uuidString.lowercased().replacing("-", with: "")
        try await server.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE template0"), logger: Self.logger)
        }
        return PostgresTestDatabase(name: name, server: server)
    }

    /// Runs `body` with a new database, dropped afterwards (also when `body` throws).
    public static func with<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresTestDatabase) async throws -> sending Result
    ) async throws -> sending Result {
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
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
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

    /// The cluster of this process, found or started on first use.
    private static let cluster: Result<PostgresTestServer, PostgresTestError> = findOrStartCluster()

    /// Where this process starts its own cluster when none is given.
    private static let privateDirectory = FileManager.default.temporaryDirectory
        .appendingPathComponent("cloudsync-pg-\(UUID().uuidString)")

    private static func findOrStartCluster() -> Result<PostgresTestServer, PostgresTestError> {
        do throws(PostgresTestError) {
            if let url = ProcessInfo.processInfo.environment[environmentKey], !url.isEmpty {
                return .success(try PostgresTestServer(url: url))
            }
            do {
                try FileManager.default.createDirectory(at: privateDirectory, withIntermediateDirectories: true)
                // As root, the cluster belongs to the postgres user, who must reach it.
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: privateDirectory.path)
            } catch {
                throw PostgresTestError("cannot create \(privateDirectory.path): \(error)")
            }
            atexit {
                _ = try? PostgresTestDatabase.runScript(["stop", PostgresTestDatabase.privateDirectory.appendingPathComponent("cluster").path])
                try? FileManager.default.removeItem(at: PostgresTestDatabase.privateDirectory)
            }
            let url = try runScript(["start", privateDirectory.appendingPathComponent("cluster").path])
            return .success(try PostgresTestServer(url: url))
        } catch {
            return .failure(error)
        }
    }

    /// `scripts/postgres`, from this file's place in the package.
    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres")

    /// Runs `scripts/postgres` and returns its standard output, trimmed.
    private static func runScript(_ arguments: [String]) throws(PostgresTestError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw PostgresTestError("cannot run \(script.path): \(error)") }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PostgresTestError("scripts/postgres \(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
