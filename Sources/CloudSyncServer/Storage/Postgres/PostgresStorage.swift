import CloudSyncCore
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Storage in PostgreSQL, shared by any number of server instances (docs/postgres.md).
///
/// The catalog lives in the schema `cloudsync`; each managed database is a schema of real
/// tables that other programs may read and write with plain SQL (triggers record their
/// writes). Uploads are merged with the sync engine itself, on a scratch SQLite copy of the
/// rows they touch, so that merge results are the engine's by construction; the merged rows
/// and clocks are then written back in the same PostgreSQL transaction.
public final class PostgresStorage: SyncStorage {
    public let payloadLimits: PayloadLimits
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let databases = Mutex<[String: PostgresDatabase]>([:])
    private let secret = Mutex<[UInt8]?>(nil)
    /// Compiled Row-Level Security policies by database (`compiledPolicies`).
    let policyCache = Mutex<[String: CompiledPolicies]>([:])
    /// Connections of the pool in use, for `GET /metrics` (PostgresStorage+Console.swift).
    let leases: PoolLeases

    /// Connects to the PostgreSQL server at `url` (`postgres://user:password@host:port/db`)
    /// and creates the catalog if needed.
    public init(url: String, payloadLimits: PayloadLimits = .default, maxConnections: Int = 20, logger: Logger = Logger(label: "cloudsync.storage")) async throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maxConnections
        leases = PoolLeases(maximum: maxConnections)
        // The pool's background chatter (e.g. a lease queued before run() starts) stays out of
        // the server log unless it is an error.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        client = PostgresClient(configuration: configuration, backgroundLogger: background)
        let client = client
        runner = Task { await client.run() }
        self.payloadLimits = payloadLimits
        self.logger = logger
        do {
            try await bootstrap()
        } catch {
            runner.cancel()
            throw error
        }
    }

    static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty
        else {
            throw SyncStorageError(.failure, "not a PostgreSQL URL (postgres://user:password@host:port/database): \(url.prefix(200))")
        }
        let database = components.path.split(separator: "/").first.map(String.init)
        return PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database, tls: .disable)
    }

    private func bootstrap() async throws {
        try await transaction { connection in
            // Instances starting together would race on CREATE ... IF NOT EXISTS.
            try await connection.query("SELECT pg_advisory_xact_lock(727274001)", logger: self.logger)
            for statement in PostgresCatalog.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
            }
            // Databases created before writers notified `changesChannel` get the new lock function.
            let stale = try await connection.query("""
                SELECT d.schema_name FROM cloudsync.databases d
                  JOIN pg_catalog.pg_namespace n ON n.nspname = d.schema_name
                  JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = 'cloudsync_lock'
                 WHERE position('pg_notify' in p.prosrc) = 0
                """, logger: self.logger)
            var schemas: [String] = []
            for try await schema in stale.decode(String.self) { schemas.append(schema) }
            for schema in schemas {
                try await connection.query(PostgresQuery(unsafeSQL: PostgresTriggers.lockFunctionSQL(schema: schema)), logger: self.logger)
            }
        }
    }

    /// Runs `body` in a transaction, turning PostgreSQL errors into `SyncStorageError`s.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await leases.during { try await client.withTransaction(logger: logger) { connection in try await body(connection) } }
        } catch let error as PostgresTransactionError {
            throw Self.storageError(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw Self.storageError(error)
        }
    }

    /// Runs one query outside a transaction and returns its rows.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            var result: [PostgresRow] = []
            try await leases.during {
                for try await row in try await client.query(query, logger: logger) { result.append(row) }
            }
            return result
        } catch {
            throw Self.storageError(error)
        }
    }

    static func storageError(_ error: any Error) -> any Error {
        if error is SyncStorageError || error is CloudSyncError { return error }
        if let error = error as? PSQLError {
            let message = error.serverInfo?[.message] ?? "\(error.code)"
            return SyncStorageError(.failure, "PostgreSQL: \(message)")
        }
        return SyncStorageError(.failure, "PostgreSQL: \(error)")
    }

    // MARK: Health

    public func isHealthy() async -> Bool {
        (try? await rows("SELECT 1").count) == 1
    }

    // MARK: Databases

    public func databaseExists(_ name: String) async throws -> Bool {
        guard DatabaseName.isValid(name) else { return false }
        return try await !rows("SELECT 1 FROM cloudsync.databases WHERE name = \(name)").isEmpty
    }

    public func listDatabases() async throws -> [String] {
        try await rows("SELECT name FROM cloudsync.databases ORDER BY name").map { try $0.decode(String.self) }
    }

    @discardableResult
    public func createDatabase(name: String, schema: String, tables: [String]?) async throws -> [String] {
        try DatabaseName.validate(name)
        let translated = try PostgresSchema(sqlite: schema, tables: tables)
        let schemaName = Self.schemaName(for: name)
        let site = UUIDv7.generate()
        let logger = logger
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(727274002)", logger: logger)
            guard try await connection.query("SELECT 1 FROM cloudsync.databases WHERE name = \(name)", logger: logger).collect().isEmpty else {
                throw SyncStorageError(.databaseExists, "database \(name) already exists")
            }
            try await connection.query(
                "INSERT INTO cloudsync.databases(name, schema_name, sqlite_schema, tables, schema_hashes, site_id) VALUES (\(name), \(schemaName), \(schema), \(translated.tables.map(\.name)), \([Int64(bitPattern: translated.schemaHash)]), \(ByteBuffer(bytes: site)))",
                logger: logger)
            for statement in PostgresLayout.createStatements(schema: schemaName, translated, siteID: site) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
        logger.info("created database", metadata: ["database": "\(name)", "schema": "\(schemaName)", "tables": "\(translated.tables.map(\.name).joined(separator: ","))"])
        return translated.tables.map(\.name)
    }

    /// `cs_` + the name reduced to `[a-z0-9_]` + 8 hex digits of its hash: unique and legal.
    static func schemaName(for database: String) -> String {
        let reduced = String(database.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }.prefix(40))
        let hash = SHA256.hash(data: Data(database.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "cs_\(reduced)_\(hash)"
    }

    /// The name of the loaded database whose PostgreSQL schema is `schema`.
    func loadedDatabase(schema: String) -> String? {
        databases.withLock { $0.values.first { $0.schemaName == schema }?.name }
    }

    /// The catalog entry of `name`, cached after first use. Throws `.unknownDatabase`.
    func database(_ name: String) async throws -> PostgresDatabase {
        if let cached = databases.withLock({ $0[name] }) { return cached }
        guard DatabaseName.isValid(name),
              let row = try await rows("SELECT schema_name, sqlite_schema, tables, schema_hashes, site_id FROM cloudsync.databases WHERE name = \(name)").first
        else {
            throw SyncStorageError(.unknownDatabase, "database \(name) does not exist")
        }
        let (schemaName, sqlite, tables, hashes, site) = try row.decode((String, String, [String], [Int64], ByteBuffer).self)
        let schema = try PostgresSchema(sqlite: sqlite, tables: tables)
        // The schema's hash as computed now is always known: databases created before the text
        // hash followed creation order stored only the name-ordered one (wire-format §11).
        let database = PostgresDatabase(
            name: name, schemaName: schemaName, schema: schema,
            knownHashes: Set(hashes.map { UInt64(bitPattern: $0) }).union([schema.schemaHash, schema.structuralHash]), siteID: Array(site.readableBytesView))
        databases.withLock { $0[name] = database }
        return database
    }

    // MARK: API keys

    public func createAPIKey(database name: String) async throws -> String {
        guard try await databaseExists(name) else { throw SyncStorageError(.unknownDatabase, "database \(name) does not exist") }
        let key = APIKey.generate()
        let hash = APIKey.hash(key)
        _ = try await rows("INSERT INTO cloudsync.api_keys(key_hash, database) VALUES (\(hash), \(name))")
        AuditLog(logger: logger).createdAPIKey(database: name, hash: hash)
        return key
    }

    public func revokeAPIKey(_ key: String) async throws {
        let hash = APIKey.hash(key)
        guard !(try await rows("UPDATE cloudsync.api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_hash = \(hash) RETURNING 1")).isEmpty else {
            throw SyncStorageError(.unknownKey, "no such API key")
        }
        AuditLog(logger: logger).revokedAPIKey(hash: hash)
    }

    public func verifyAPIKey(_ key: String) async throws -> APIKeyGrant? {
        try await rows("SELECT database FROM cloudsync.api_keys WHERE key_hash = \(APIKey.hash(key)) AND revoked_at IS NULL")
            .first.map { APIKeyGrant(database: try $0.decode(String.self)) }
    }

    // MARK: Access tokens

    public func tokenSigningSecret() async throws -> [UInt8] {
        if let cached = secret.withLock({ $0 }) { return cached }
        let fresh = ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        // Whichever instance inserts first wins; every instance reads the winner.
        _ = try await rows("INSERT INTO cloudsync.settings(key, value) VALUES ('token_secret', \(fresh)) ON CONFLICT (key) DO NOTHING")
        guard let row = try await rows("SELECT value FROM cloudsync.settings WHERE key = 'token_secret'").first else {
            throw SyncStorageError(.failure, "the token secret is missing")
        }
        let value = Array(try row.decode(ByteBuffer.self).readableBytesView)
        secret.withLock { $0 = value }
        return value
    }

    public func recordToken(_ claims: AccessClaims) async throws {
        _ = try await rows("""
            INSERT INTO cloudsync.access_tokens(token_id, database, user_id, name, expires_at)
            VALUES (\(claims.tokenID), \(claims.database), \(claims.userID), \(claims.name), \(claims.expiresAt))
            """)
        AuditLog(logger: logger).issuedToken(claims)
    }

    public func revokeToken(id tokenID: String) async throws {
        guard !(try await rows("UPDATE cloudsync.access_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE token_id = \(tokenID) RETURNING 1")).isEmpty else {
            throw SyncStorageError(.unknownToken, "no such access token")
        }
        AuditLog(logger: logger).revokedToken(id: tokenID)
    }

    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        // A token this server never recorded counts as revoked (see the protocol).
        guard let row = try await rows("SELECT revoked_at IS NOT NULL FROM cloudsync.access_tokens WHERE token_id = \(tokenID)").first else { return true }
        return try row.decode(Bool.self)
    }

    public func bindSite(database: String, site: SiteID, userID: String) async throws -> Bool {
        let bytes = ByteBuffer(bytes: site.bytes)
        _ = try await rows("INSERT INTO cloudsync.site_bindings(database, site, user_id) VALUES (\(database), \(bytes), \(userID)) ON CONFLICT DO NOTHING")
        let owner = try await rows("SELECT user_id FROM cloudsync.site_bindings WHERE database = \(database) AND site = \(bytes)").first
        return try owner?.decode(String.self) == userID
    }

    // MARK: Blobs and shutdown

    public func makeBlobStorage(lifetime: Duration, maxBytes: Int) -> any BlobStorage {
        PostgresBlobStore(storage: self, lifetime: lifetime, maxBytes: maxBytes)
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }
}

/// What a storage instance knows about one managed database.
struct PostgresDatabase: Sendable {
    var name: String
    var schemaName: String
    var schema: PostgresSchema
    var knownHashes: Set<UInt64>
    var siteID: [UInt8]
    /// Block columns (block-text.md) by table, then column, with their delimiters. Read from
    /// `cloudsync.block_columns` in each request's transaction (`withBlockColumns`), so that a
    /// `column set` by another process is seen at once; empty in the cached entry.
    var blockColumns: [String: [String: String]] = [:]

    func table(_ name: String) -> PostgresTable? {
        schema.tables.first { $0.name.lowercased() == name.lowercased() }
    }

    /// `S."name"`.
    func qualified(_ name: String) -> String {
        SQLText.identifier(schemaName) + "." + SQLText.identifier(name)
    }
}
