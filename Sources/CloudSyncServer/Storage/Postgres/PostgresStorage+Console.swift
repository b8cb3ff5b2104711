import CloudSyncCore
import NIOCore
import PostgresNIO

/// The operators' console on PostgreSQL: its tables live in the catalog schema, next to the
/// embedded storage's equivalents (EmbeddedStorage+Console.swift).
extension PostgresStorage: ConsoleStorage {
    static let consoleCatalogStatements = [
        """
        CREATE TABLE IF NOT EXISTS cloudsync.administrators(
          "user" TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.devices(
          database TEXT NOT NULL, site BYTEA NOT NULL, user_id TEXT, last_seen TIMESTAMPTZ NOT NULL,
          checked_version BIGINT, PRIMARY KEY(database, site))
        """,
        """
        CREATE TABLE IF NOT EXISTS cloudsync.refused_rows(
          id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now(),
          database TEXT NOT NULL, site TEXT NOT NULL, user_id TEXT NOT NULL, tbl TEXT NOT NULL, rows BIGINT NOT NULL)
        """,
    ]

    /// A timestamp column as the embedded storage writes them: ISO 8601 in UTC, milliseconds.
    private static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    // MARK: Administrators

    public func setAdministrator(user: String, passwordHash: String) async throws {
        _ = try await rows("""
            INSERT INTO cloudsync.administrators("user", password_hash) VALUES (\(user), \(passwordHash))
            ON CONFLICT ("user") DO UPDATE SET password_hash = EXCLUDED.password_hash
            """)
        logger.info("set dashboard administrator", metadata: ["admin": "\(user)"])
    }

    public func administratorPasswordHash(user: String) async throws -> String? {
        try await rows(#"SELECT password_hash FROM cloudsync.administrators WHERE "user" = \#(user)"#).first?.decode(String.self)
    }

    // MARK: Overview

    public func databaseSummary(_ name: String) async throws -> DatabaseSummary {
        let database = try await self.database(name)
        let synchronized = Set(database.schema.tables.map { $0.name.lowercased() })
        let names = try await rows("""
            SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(database.schemaName) AND c.relkind IN ('r', 'p')
              AND c.relname NOT LIKE 'cloudsync\\_%' AND c.relname NOT LIKE '%\\_cloudsync'
            ORDER BY c.relname
            """).map { try $0.decode(String.self) }
        var tables: [DatabaseSummary.Table] = []
        for table in names {
            let count = try await rows(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(database.qualified(table))")).first?.decode(Int64.self) ?? 0
            tables.append(DatabaseSummary.Table(name: table, synchronized: synchronized.contains(table.lowercased()), rows: count))
        }
        let version = try await rows(PostgresQuery(unsafeSQL: "SELECT db_version FROM \(database.qualified("cloudsync_clock"))")).first?.decode(Int64.self) ?? 0
        let size = try await rows("""
            SELECT COALESCE(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::BIGINT
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(database.schemaName) AND c.relkind IN ('r', 'p', 'm')
            """).first?.decode(Int64.self) ?? 0
        return DatabaseSummary(name: name, tables: tables, dbVersion: version, sizeBytes: size)
    }

    public func devices(database: String) async throws -> [DeviceRecord] {
        try await rows("""
            SELECT encode(site, 'hex'), user_id, \(unescaped: Self.iso("last_seen")), checked_version FROM cloudsync.devices
            WHERE database = \(database) ORDER BY last_seen DESC, site
            """).map { row in
            let (site, user, seen, checked) = try row.decode((String, String?, String, Int64?).self)
            return DeviceRecord(site: site, userID: user, lastSeen: seen, checkedVersion: checked)
        }
    }

    public func recordDevice(database: String, site: SiteID, userID: String?, checkedVersion: Int64?) async throws {
        _ = try await rows("""
            INSERT INTO cloudsync.devices(database, site, user_id, last_seen, checked_version)
            VALUES (\(database), \(ByteBuffer(bytes: site.bytes)), \(userID), now(), \(checkedVersion))
            ON CONFLICT (database, site) DO UPDATE SET user_id = COALESCE(EXCLUDED.user_id, devices.user_id),
              last_seen = EXCLUDED.last_seen, checked_version = COALESCE(EXCLUDED.checked_version, devices.checked_version)
            """)
    }

    // MARK: Keys and tokens

    public func apiKeys(database: String) async throws -> [APIKeyRecord] {
        try await rows("""
            SELECT key_hash, \(unescaped: Self.iso("created_at")), \(unescaped: Self.iso("revoked_at")) FROM cloudsync.api_keys
            WHERE database = \(database) ORDER BY created_at DESC, key_hash
            """).map { row in
            let (hash, created, revoked) = try row.decode((String, String, String?).self)
            return APIKeyRecord(hash: hash, createdAt: created, revokedAt: revoked)
        }
    }

    public func revokeAPIKey(hash: String) async throws {
        guard !(try await rows("UPDATE cloudsync.api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_hash = \(hash) RETURNING 1")).isEmpty else {
            throw SyncStorageError(.unknownKey, "no such API key")
        }
        logger.info("revoked API key", metadata: ["key_hash": "\(hash.prefix(12))"])
    }

    public func accessTokens(database: String) async throws -> [AccessTokenRecord] {
        try await rows("""
            SELECT token_id, user_id, name, expires_at, \(unescaped: Self.iso("created_at")), \(unescaped: Self.iso("revoked_at")) FROM cloudsync.access_tokens
            WHERE database = \(database) ORDER BY created_at DESC, token_id
            """).map { row in
            let (id, user, name, expires, created, revoked) = try row.decode((String, String, String?, Int64?, String, String?).self)
            return AccessTokenRecord(tokenID: id, userID: user, name: name, expiresAt: expires, createdAt: created, revokedAt: revoked)
        }
    }

    // MARK: Refused rows

    public func recordRefusedRows(_ event: RefusedRowsEvent) async throws {
        let retained = Int64(RefusedRowsEvent.retained)
        try await transaction { connection in
            try await connection.query("""
                INSERT INTO cloudsync.refused_rows(database, site, user_id, tbl, rows)
                VALUES (\(event.database), \(event.site), \(event.userID), \(event.table), \(Int64(event.rows)))
                """, logger: self.logger)
            try await connection.query(
                "DELETE FROM cloudsync.refused_rows WHERE id <= (SELECT max(id) FROM cloudsync.refused_rows) - \(retained)", logger: self.logger)
        }
    }

    public func recentRefusedRows(limit: Int) async throws -> [RefusedRowsEvent] {
        try await rows("""
            SELECT \(unescaped: Self.iso("at")), database, site, user_id, tbl, rows FROM cloudsync.refused_rows ORDER BY id DESC LIMIT \(Int64(limit))
            """).map { row in
            let (at, database, site, user, table, count) = try row.decode((String, String, String, String, String, Int64).self)
            return RefusedRowsEvent(at: at, database: database, site: site, userID: user, table: table, rows: Int(count))
        }
    }
}

extension PostgresStorage: ReportsConnectionPool {
    public var connectionPoolUse: ConnectionPoolUse { leases.use }
}
