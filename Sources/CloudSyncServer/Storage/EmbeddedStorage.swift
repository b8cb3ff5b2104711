import CloudSyncCore
import Foundation
import Logging
import Synchronization

/// The default storage: everything in one data directory.
///
///     DATA/catalog.sqlite        managed databases and API key hashes
///     DATA/databases/NAME        one SQLite file per managed database (WAL mode)
///
/// Each managed database is a full peer of the sync engine with its own site id: uploads
/// are merged into it, downloads are read from its changes feed. Per database there is one
/// writer connection on a serial dispatch queue (merges are serialized and never block the
/// Swift cooperative pool) and a pool of reader connections for downloads, which run
/// concurrently with each other and with the writer thanks to WAL.
///
/// The catalog is queried on every request, so databases and keys created or revoked by
/// the CLI while the server runs take effect immediately.
public final class EmbeddedStorage: SyncStorage {
    public let directory: URL
    public let payloadLimits: PayloadLimits
    let logger: Logger
    let catalog: SerialWorker<SQLiteConnection>
    /// The token signing secret once read (EmbeddedStorage+Tokens.swift).
    let tokenSecret = Mutex<[UInt8]?>(nil)
    private let databases = Mutex<[String: ManagedDatabase]>([:])

    /// Connection setup of every server connection. `synchronous = FULL`: in WAL mode
    /// each commit fsyncs the WAL, so an acknowledged merge survives power loss, not only a
    /// process crash. The busy timeout covers the rare moments where two connections both
    /// want to write (the CLI and the server on the catalog; a reader connection recording
    /// the engine version once when it opens).
    static let setup = "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"

    /// Opens (creating if needed) the data directory `directory`.
    public init(directory: URL, payloadLimits: PayloadLimits = .default, logger: Logger = Logger(label: "cloudsync.storage")) throws {
        self.directory = directory
        self.payloadLimits = payloadLimits
        self.logger = logger
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("databases"), withIntermediateDirectories: true)
        let catalogPath = directory.appendingPathComponent("catalog.sqlite").path
        catalog = SerialWorker(
            label: "cloudsync.server.catalog",
            open: {
                let connection = try SQLiteConnection(path: catalogPath, engine: false, setup: Self.setup)
                try connection.connection.execute("""
                    CREATE TABLE IF NOT EXISTS databases(
                      name TEXT PRIMARY KEY NOT NULL,
                      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
                    CREATE TABLE IF NOT EXISTS api_keys(
                      key_hash TEXT PRIMARY KEY NOT NULL,
                      database TEXT NOT NULL,
                      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                      revoked_at TEXT);
                    CREATE TABLE IF NOT EXISTS access_tokens(
                      token_id TEXT PRIMARY KEY NOT NULL,
                      database TEXT NOT NULL,
                      user_id TEXT NOT NULL,
                      name TEXT,
                      expires_at INTEGER,
                      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                      revoked_at TEXT);
                    CREATE TABLE IF NOT EXISTS site_bindings(
                      database TEXT NOT NULL,
                      site TEXT NOT NULL,
                      user_id TEXT NOT NULL,
                      bound_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                      PRIMARY KEY(database, site));
                    CREATE TABLE IF NOT EXISTS send_windows(
                      database TEXT NOT NULL,
                      site TEXT NOT NULL,
                      windows TEXT NOT NULL,
                      PRIMARY KEY(database, site));
                    """ + Self.consoleCatalogSQL)
                return connection
            },
            close: { $0.close() })
    }

    /// Opens the data directory with the payload limits of a server configuration.
    public convenience init(directory: URL, configuration: ServerConfiguration, logger: Logger = Logger(label: "cloudsync.storage")) throws {
        try self.init(directory: directory, payloadLimits: configuration.payloadLimits, logger: logger)
    }

    /// `DATA/databases/NAME`.
    public func databasePath(_ name: String) -> String {
        directory.appendingPathComponent("databases").appendingPathComponent(name).path
    }

    // MARK: Health

    public func isHealthy() async -> Bool {
        do {
            return try await catalog.run { try $0.connection.scalar("SELECT count(*) FROM databases")?.integerValue != nil }
        } catch {
            logger.error("catalog unavailable: \(error)")
            return false
        }
    }

    // MARK: Databases

    public func databaseExists(_ name: String) async throws -> Bool {
        guard DatabaseName.isValid(name) else { return false }
        return try await catalog.run { connection in
            try Self.engineCall {
                try connection.connection.scalar("SELECT 1 FROM databases WHERE name = ?1", [.string(name)]) != nil
            }
        }
    }

    public func listDatabases() async throws -> [String] {
        try await catalog.run { connection in
            try Self.engineCall {
                try connection.connection.rows("SELECT name FROM databases ORDER BY name").compactMap { $0.first?.stringValue }
            }
        }
    }

    @discardableResult
    public func createDatabase(name: String, schema: String, tables: [String]?) async throws -> [String] {
        try DatabaseName.validate(name)
        if try await databaseExists(name) {
            throw SyncStorageError(.databaseExists, "database \(name) already exists")
        }
        let finalPath = databasePath(name)
        if FileManager.default.fileExists(atPath: finalPath) {
            throw SyncStorageError(.databaseExists, "a file \(finalPath) already exists but is not in the catalog: move it away first")
        }
        let temporaryPath = databasePath(".\(name).creating-\(RandomToken.make().prefix(12))")
        let synchronized = try await Blocking.run {
            try Self.buildDatabase(at: temporaryPath, schema: schema, tables: tables)
        }
        do {
            try FileManager.default.moveItem(atPath: temporaryPath, toPath: finalPath)
        } catch {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw SyncStorageError(.failure, "cannot move the new database into place: \(error)")
        }
        do {
            try await catalog.run { connection in
                try Self.engineCall {
                    try connection.connection.run("INSERT INTO databases(name) VALUES (?1)", [.string(name)])
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: finalPath)
            if try await databaseExists(name) {
                throw SyncStorageError(.databaseExists, "database \(name) already exists")
            }
            throw error
        }
        logger.info("created database", metadata: ["database": "\(name)", "tables": "\(synchronized.joined(separator: ","))"])
        return synchronized
    }

    /// Creates a database file at `path` with `schema`, synchronizes `tables`, and leaves it
    /// closed, in WAL mode.
    private static func buildDatabase(at path: String, schema: String, tables: [String]?) throws -> [String] {
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: path, engine: true, setup: "PRAGMA synchronous = FULL;")
        } catch {
            throw SyncStorageError(.failure, "cannot create \(path): \(error.message)")
        }
        var succeeded = false
        defer {
            connection.close()
            if !succeeded {
                for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
        }
        let context = try connection.engine
        let created = try SchemaTables.create(schema, on: connection.connection)
        var chosen: [String] = []
        if let tables {
            for table in tables {
                guard let match = created.first(where: { $0.lowercased() == table.lowercased() }) else {
                    throw SyncStorageError(.invalidSchema, "table \(table) is not created by the schema (it creates \(created.joined(separator: ", ")))")
                }
                if !chosen.contains(match) { chosen.append(match) }
            }
            guard !chosen.isEmpty else { throw SyncStorageError(.invalidSchema, "no table to synchronize") }
        } else {
            chosen = created
        }
        for table in chosen {
            do {
                try context.initialize(table: table)
            } catch {
                throw SyncStorageError(.invalidSchema, "cannot synchronize table \(table): \(error.message)")
            }
        }
        try engineCall { try connection.connection.execute("PRAGMA journal_mode = WAL") }
        succeeded = true
        return chosen
    }

    /// The open handles of a managed database, opening them on first use. Throws
    /// `.unknownDatabase` if it is not in the catalog.
    func managedDatabase(_ name: String) async throws -> ManagedDatabase {
        guard try await databaseExists(name) else {
            throw SyncStorageError(.unknownDatabase, "database \(name) does not exist")
        }
        let path = databasePath(name)
        let limits = payloadLimits
        return databases.withLock { databases in
            if let existing = databases[name] { return existing }
            let database = ManagedDatabase(name: name, path: path, payloadLimits: limits)
            databases[name] = database
            return database
        }
    }

    // MARK: Sync

    public func merge(database name: String, site: SiteID, payload: [UInt8], as principal: Principal) async throws -> MergeResult {
        try SyncStorageError.refuseFragments(payload)
        let database = try await managedDatabase(name)
        return try await database.writer.runAsync { connection in
            try await Self.engineCall {
                // BEGIN IMMEDIATE takes the write lock up front (waiting through the busy
                // timeout if another process holds it), so the merge never fails half way with
                // SQLITE_BUSY_SNAPSHOT. COMMIT returns once the WAL is synced
                // (synchronous = FULL): only then is the upload acknowledged.
                try await Self.inWriteTransaction(connection) {
                    let context = try connection.engine
                    if let claims = principal.claims, let security = try Self.rowSecurity(connection, claims) {
                        let changes = try context.decodePayload(payload)
                        return try await connection.auth!.with(claims) {
                            try await security.merge(changes, with: EmbeddedRowMerger(context: context))
                        }
                    }
                    let report = try context.applyPayload(payload)
                    return MergeResult(changes: report.changes, failedRows: report.failedRows)
                }
            }
        }
    }

    public func changes(database name: String, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions, as principal: Principal) async throws -> ChangesPage? {
        let database = try await managedDatabase(name)
        if let claims = principal.claims, try await database.readers.run({ connection in try Self.engineCall { try PolicyStore.hasPolicies(connection.connection) } }) {
            // A token user of a database with policies: visibility is brought up to date and
            // recorded as the page is built, so this runs on the writer.
            return try await database.writer.runAsync { connection in
                try await Self.engineCall {
                    try await Self.inWriteTransaction(connection) { () async throws -> ChangesPage? in
                        guard let security = try Self.rowSecurity(connection, claims) else {
                            return try Self.page(connection, excludingSite: site, after: cursor, limit: limit, options: options)
                        }
                        return try await connection.auth!.with(claims) { () async throws -> ChangesPage? in
                            try await security.refresh()
                            return try await security.page(excluding: site, after: cursor, limit: limit, options: options)
                        }
                    }
                }
            }
        }
        return try await database.readers.run { connection in
            try Self.engineCall { try Self.page(connection, excludingSite: site, after: cursor, limit: limit, options: options) }
        }
    }

    /// An unfiltered page of the feed.
    private static func page(_ connection: SQLiteConnection, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions) throws -> ChangesPage? {
        let context = try connection.engine
        let feed: [ChangesFeedConstraint] = [.after(dbVersion: cursor.dbVersion, seq: cursor.seq), .site(site.bytes, equal: false)]
        // The format is the client's: protocol-v1 clients include sqlite-sync 0.8, which reads
        // only version 1.
        let encoded = options.wholeVersions
            ? try context.encodeWholeVersions(where: feed, maxChanges: max(1, limit), maxBytes: options.maxBytes, format: options.format)
            : try context.encodePayload(where: feed, maxChanges: max(1, limit), maxBytes: options.maxBytes, format: options.format)
        guard let page = encoded else { return nil }
        return ChangesPage(payload: page.payload, count: page.count, last: SyncCursor(dbVersion: page.lastDbVersion, seq: page.lastSeq))
    }

    /// The Row-Level Security engine for a token user, or nil when the database has no
    /// policies.
    private static func rowSecurity(_ connection: SQLiteConnection, _ claims: AccessClaims) throws -> RowSecurity<EmbeddedRowSecurityStore>? {
        guard try PolicyStore.hasPolicies(connection.connection) else { return nil }
        let context = try connection.engine
        let policies = try PolicyStore.compiled(context)
        guard !policies.isEmpty else { return nil }
        return RowSecurity(
            store: try EmbeddedRowSecurityStore(context: context), claims: claims, policies: policies,
            epoch: try PolicyStore.epoch(connection.connection))
    }

    /// Runs `body` in `BEGIN IMMEDIATE` … `COMMIT`, rolling back if it throws.
    static func inWriteTransaction<T>(_ connection: SQLiteConnection, _ body: () async throws -> T) async throws -> T {
        let sql = connection.connection
        try sql.execute("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            try sql.execute("COMMIT")
            return result
        } catch {
            if !sql.isAutocommit { try? sql.execute("ROLLBACK") }
            throw error
        }
    }

    // MARK: API keys

    public func createAPIKey(database name: String) async throws -> String {
        try DatabaseName.validate(name)
        guard try await databaseExists(name) else {
            throw SyncStorageError(.unknownDatabase, "database \(name) does not exist")
        }
        let key = APIKey.generate()
        let hash = APIKey.hash(key)
        try await catalog.run { connection in
            try Self.engineCall {
                try connection.connection.run("INSERT INTO api_keys(key_hash, database) VALUES (?1, ?2)", [.string(hash), .string(name)])
            }
        }
        AuditLog(logger: logger).createdAPIKey(database: name, hash: hash)
        return key
    }

    public func revokeAPIKey(_ key: String) async throws {
        let hash = APIKey.hash(key)
        let found = try await catalog.run { connection in
            try Self.engineCall { () throws -> Bool in
                try connection.connection.run(
                    "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE key_hash = ?1 AND revoked_at IS NULL",
                    [.string(hash)])
                if connection.connection.changes > 0 { return true }
                // Revoking a revoked key is not an error.
                return try connection.connection.scalar("SELECT 1 FROM api_keys WHERE key_hash = ?1", [.string(hash)]) != nil
            }
        }
        guard found else { throw SyncStorageError(.unknownKey, "no such API key") }
        AuditLog(logger: logger).revokedAPIKey(hash: hash)
    }

    public func verifyAPIKey(_ key: String) async throws -> APIKeyGrant? {
        let hash = APIKey.hash(key)
        return try await catalog.run { connection in
            try Self.engineCall { () throws -> APIKeyGrant? in
                try connection.connection.scalar(
                    "SELECT database FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL", [.string(hash)]
                )?.stringValue.map(APIKeyGrant.init(database:))
            }
        }
    }

    // MARK: Shutdown

    public func close() async {
        let open = databases.withLock { databases in
            defer { databases.removeAll() }
            return Array(databases.values)
        }
        for database in open { await database.close() }
        await catalog.close()
    }

    // MARK: Errors

    /// Runs engine calls, turning their errors into `SyncStorageError`s.
    static func engineCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CloudSyncError {
            throw storageError(error)
        }
    }

    /// `engineCall` for async work (`SerialWorker.runAsync`).
    static func engineCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CloudSyncError {
            throw storageError(error)
        }
    }

    static func storageError(_ error: CloudSyncError) -> SyncStorageError {
        switch error.code {
        case .malformedPayload, .schemaMismatch, .unknownTable, .unknownColumn:
            SyncStorageError(.badPayload, error.message)
        case .tooLarge:
            SyncStorageError(.payloadTooLarge, error.message)
        default:
            SyncStorageError(.failure, error.description)
        }
    }
}

/// The connections of one managed database.
final class ManagedDatabase: Sendable {
    let name: String
    let writer: SerialWorker<SQLiteConnection>
    let readers: ReaderPool

    init(name: String, path: String, payloadLimits: PayloadLimits) {
        self.name = name
        writer = SerialWorker(
            label: "cloudsync.server.writer.\(name)",
            open: {
                let connection = try SQLiteConnection(path: path, engine: true, setup: EmbeddedStorage.setup)
                let context = try connection.engine
                // The feed is paged by (db_version, seq): merged changes must get unique,
                // commit-ordered stamps.
                context.stampsMergesInOrder = true
                context.payloadLimits = payloadLimits
                _ = try context.siteID()
                return connection
            },
            close: { connection in
                try? connection.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                connection.close()
            })
        readers = ReaderPool(label: "cloudsync.server.readers.\(name)", maxIdle: 4) {
            let connection = try SQLiteConnection(path: path, engine: true, setup: EmbeddedStorage.setup)
            // Reading the site id records the engine's global tables once per connection (a
            // tiny write); afterwards it is cached and reads never write.
            _ = try connection.engine.siteID()
            return connection
        }
    }

    func close() async {
        readers.close()
        await writer.close()
    }
}
