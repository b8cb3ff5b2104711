import CloudSyncCore
import Foundation
import Logging

/// The operators' console in the embedded storage: its tables live in the catalog.
///
///     administrators   dashboard sign-in: user and slow salted password hash
///     devices          last seen and downloaded version per (database, site)
///     refused_rows     the most recent rows Row-Level Security refused, bounded
extension EmbeddedStorage: ConsoleStorage {
    static let consoleCatalogSQL = """
        CREATE TABLE IF NOT EXISTS administrators(
          user TEXT PRIMARY KEY NOT NULL,
          password_hash TEXT NOT NULL,
          created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
        CREATE TABLE IF NOT EXISTS devices(
          database TEXT NOT NULL,
          site TEXT NOT NULL,
          user_id TEXT,
          last_seen TEXT NOT NULL,
          checked_version INTEGER,
          PRIMARY KEY(database, site));
        CREATE TABLE IF NOT EXISTS refused_rows(
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
          database TEXT NOT NULL, site TEXT NOT NULL, user_id TEXT NOT NULL, tbl TEXT NOT NULL, rows INTEGER NOT NULL);
        """

    /// Runs `body` on the catalog connection, turning engine errors into storage errors.
    private func inCatalog<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await catalog.run { connection in try Self.engineCall { try body(connection.connection) } }
    }

    // MARK: Administrators

    public func setAdministrator(user: String, passwordHash: String) async throws {
        try await inCatalog { sql in
            try sql.run(
                "INSERT INTO administrators(user, password_hash) VALUES (?1, ?2) ON CONFLICT(user) DO UPDATE SET password_hash = excluded.password_hash",
                [.string(user), .string(passwordHash)])
        }
        logger.info("set dashboard administrator", metadata: ["admin": "\(user)"])
    }

    public func administratorPasswordHash(user: String) async throws -> String? {
        try await inCatalog { sql in
            try sql.scalar("SELECT password_hash FROM administrators WHERE user = ?1", [.string(user)])?.stringValue
        }
    }

    // MARK: Overview

    public func databaseSummary(_ name: String) async throws -> DatabaseSummary {
        let database = try await managedDatabase(name)
        let path = databasePath(name)
        var summary = try await database.readers.run { connection in
            try Self.engineCall { () throws -> DatabaseSummary in
                let sql = connection.connection
                let synchronized = Set(try connection.engine.synchronizedTableNames.map { $0.lowercased() })
                let names = try sql.rows("""
                    SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                      AND name NOT LIKE 'cloudsync\\_%' ESCAPE '\\' AND name NOT LIKE '%\\_cloudsync' ESCAPE '\\' ORDER BY name
                    """).compactMap { $0.first?.stringValue }
                let tables = try names.map { table in
                    DatabaseSummary.Table(
                        name: table, synchronized: synchronized.contains(table.lowercased()),
                        rows: try sql.scalar("SELECT count(*) FROM \(SQLText.identifier(table))")?.integerValue ?? 0)
                }
                let version = try sql.scalar("SELECT cloudsync_db_version()")?.integerValue ?? 0
                let pages = try sql.scalar("PRAGMA page_count")?.integerValue ?? 0
                let pageSize = try sql.scalar("PRAGMA page_size")?.integerValue ?? 0
                return DatabaseSummary(name: name, tables: tables, dbVersion: version, sizeBytes: pages * pageSize)
            }
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.int64Value ?? 0
        summary.sizeBytes += wal
        return summary
    }

    public func devices(database: String) async throws -> [DeviceRecord] {
        try await inCatalog { sql in
            try sql.rows(
                "SELECT site, user_id, last_seen, checked_version FROM devices WHERE database = ?1 ORDER BY last_seen DESC, site",
                [.string(database)]
            ).map { row in
                DeviceRecord(site: row[0].stringValue ?? "", userID: row[1].stringValue, lastSeen: row[2].stringValue ?? "", checkedVersion: row[3].integerValue)
            }
        }
    }

    public func recordDevice(database: String, site: SiteID, userID: String?, checkedVersion: Int64?) async throws {
        try await inCatalog { sql in
            try sql.run("""
                INSERT INTO devices(database, site, user_id, last_seen, checked_version)
                VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?4)
                ON CONFLICT(database, site) DO UPDATE SET user_id = COALESCE(excluded.user_id, devices.user_id),
                  last_seen = excluded.last_seen, checked_version = COALESCE(excluded.checked_version, devices.checked_version)
                """, [.string(database), .string(site.hex), userID.map(SQLValue.string) ?? .null, checkedVersion.map(SQLValue.integer) ?? .null])
        }
    }

    // MARK: Keys and tokens

    public func apiKeys(database: String) async throws -> [APIKeyRecord] {
        try await inCatalog { sql in
            try sql.rows("SELECT key_hash, created_at, revoked_at FROM api_keys WHERE database = ?1 ORDER BY created_at DESC, key_hash", [.string(database)])
                .map { APIKeyRecord(hash: $0[0].stringValue ?? "", createdAt: $0[1].stringValue ?? "", revokedAt: $0[2].stringValue) }
        }
    }

    public func revokeAPIKey(hash: String) async throws {
        let found = try await inCatalog { sql in
            try sql.run(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE key_hash = ?1",
                [.string(hash)])
            return sql.changes > 0
        }
        guard found else { throw SyncStorageError(.unknownKey, "no such API key") }
        logger.info("revoked API key", metadata: ["key_hash": "\(hash.prefix(12))"])
    }

    public func accessTokens(database: String) async throws -> [AccessTokenRecord] {
        try await inCatalog { sql in
            try sql.rows(
                "SELECT token_id, user_id, name, expires_at, created_at, revoked_at FROM access_tokens WHERE database = ?1 ORDER BY created_at DESC, token_id",
                [.string(database)]
            ).map { row in
                AccessTokenRecord(
                    tokenID: row[0].stringValue ?? "", userID: row[1].stringValue ?? "", name: row[2].stringValue,
                    expiresAt: row[3].integerValue, createdAt: row[4].stringValue ?? "", revokedAt: row[5].stringValue)
            }
        }
    }

    // MARK: Refused rows

    public func recordRefusedRows(_ event: RefusedRowsEvent) async throws {
        try await inCatalog { sql in
            try sql.run(
                "INSERT INTO refused_rows(database, site, user_id, tbl, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
                [.string(event.database), .string(event.site), .string(event.userID), .string(event.table), .integer(Int64(event.rows))])
            try sql.run("DELETE FROM refused_rows WHERE id <= (SELECT max(id) FROM refused_rows) - ?1", [.integer(Int64(RefusedRowsEvent.retained))])
        }
    }

    public func recentRefusedRows(limit: Int) async throws -> [RefusedRowsEvent] {
        try await inCatalog { sql in
            try sql.rows("SELECT at, database, site, user_id, tbl, rows FROM refused_rows ORDER BY id DESC LIMIT ?1", [.integer(Int64(limit))]).map { row in
                RefusedRowsEvent(
                    at: row[0].stringValue ?? "", database: row[1].stringValue ?? "", site: row[2].stringValue ?? "",
                    userID: row[3].stringValue ?? "", table: row[4].stringValue ?? "", rows: Int(row[5].integerValue ?? 0))
            }
        }
    }
}
