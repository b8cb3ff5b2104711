import CloudSyncCore
import Logging
import PostgresNIO
import Synchronization

/// Row-Level Security policies on PostgreSQL: stored in `cloudsync.policies`, written in
/// PostgreSQL's SQL (docs/postgres.md, "Row-Level Security").
extension PostgresStorage {
    public func setPolicy(_ policy: TablePolicy, database name: String) async throws {
        let database = try await self.database(name)
        guard let table = database.table(policy.table) else {
            throw TablePolicy.notSynchronized(policy.table)
        }
        var stored = policy
        stored.table = table.name
        let logger = logger
        let policyToStore = stored
        try await transaction { connection in
            // Policies change under the database's clock row, like every write a user's
            // visibility depends on (RowSecurity).
            try await Self.lockClock(database, connection: connection, logger: logger)
            for statement in PostgresLayout.rowLevelSecurityStatements(schema: database.schemaName) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await Self.setSession(database, claims: nil, connection: connection, logger: logger)
            let compiled = try PostgresTablePolicy(
                policy: policyToStore, table: table, database: database, isEnabled: true,
                relations: try await Self.relations(database, connection: connection, logger: logger))
            try await compiled.validate(database: database, connection: connection, logger: logger)
            try await connection.query("""
                INSERT INTO cloudsync.policies(database, tbl, select_expr, insert_expr, update_expr, delete_expr, enabled, epoch)
                VALUES (\(name), \(table.name), \(policyToStore.select), \(policyToStore.insert), \(policyToStore.update), \(policyToStore.delete), true,
                        (SELECT COALESCE(max(epoch), 0) + 1 FROM cloudsync.policies WHERE database = \(name)))
                ON CONFLICT (database, tbl) DO UPDATE SET select_expr = EXCLUDED.select_expr, insert_expr = EXCLUDED.insert_expr,
                  update_expr = EXCLUDED.update_expr, delete_expr = EXCLUDED.delete_expr, enabled = true, epoch = EXCLUDED.epoch
                """, logger: logger)
        }
        AuditLog(logger: logger).setPolicy(database: name, table: table.name)
    }

    public func policies(database name: String, table: String?) async throws -> [TablePolicy] {
        _ = try await self.database(name)
        return try await rows("""
            SELECT tbl, select_expr, insert_expr, update_expr, delete_expr FROM cloudsync.policies
            WHERE database = \(name) AND enabled ORDER BY tbl
            """).map { row in
            let (table, select, insert, update, delete) = try row.decode((String, String?, String?, String?, String?).self)
            return TablePolicy(table: table, select: select, insert: insert, update: update, delete: delete)
        }.filter { $0.isShown(for: table) }
    }

    public func disablePolicy(database name: String, table: String) async throws {
        let database = try await self.database(name)
        let logger = logger
        let disabled = try await transaction { connection in
            try await Self.lockClock(database, connection: connection, logger: logger)
            return try await !connection.query("""
                UPDATE cloudsync.policies SET enabled = false,
                  epoch = (SELECT max(epoch) + 1 FROM cloudsync.policies WHERE database = \(name))
                WHERE database = \(name) AND lower(tbl) = lower(\(table)) AND enabled RETURNING 1
                """, logger: logger).collect().isEmpty
        }
        guard disabled else {
            throw TablePolicy.noEnabledPolicy(table)
        }
        AuditLog(logger: logger).disabledPolicy(database: name, table: table)
    }

    // MARK: Helpers

    /// Takes the database's clock row (see PostgresTriggers), serializing with every writer.
    static func lockClock(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(database.qualified("cloudsync_clock")) FOR UPDATE"), logger: logger)
    }

    /// Puts the database's schema first in `search_path` and the token's claims (or none) in
    /// the settings `auth_userid()` and `auth_json()` read, for the rest of the transaction.
    static func setSession(_ database: PostgresDatabase, claims: AccessClaims?, connection: PostgresConnection, logger: Logger) async throws {
        let path = SQLText.identifier(database.schemaName) + ", public"
        try await connection.query("""
            SELECT set_config('search_path', \(path), true), set_config('cloudsync.user_id', \(claims?.userID ?? ""), true),
                   set_config('cloudsync.claims', \(claims?.json ?? ""), true)
            """, logger: logger)
    }

    /// Lowercased names of the tables and views a policy of `database` may name.
    static func relations(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var names: Set<String> = []
        for row in try await connection.query("""
            SELECT lower(c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN (\(database.schemaName), 'public') AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
            """, logger: logger).collect() {
            names.insert(try row.decode(String.self))
        }
        return names
    }

    /// The database's compiled policies (keyed by lowercased table) and their epoch; empty
    /// when it has none. Compiled once per epoch: every change of a policy moves the epoch on,
    /// and the tables an expression reads existed when it was set.
    func compiledPolicies(_ database: PostgresDatabase, connection: PostgresConnection) async throws -> CompiledPolicies {
        let stored = try await connection.query("""
            SELECT tbl, select_expr, insert_expr, update_expr, delete_expr, enabled, epoch FROM cloudsync.policies WHERE database = \(database.name)
            """, logger: logger).collect()
            .map { try $0.decode((String, String?, String?, String?, String?, Bool, Int64).self) }
        let epoch = stored.map(\.6).max() ?? 0
        if let cached = policyCache.withLock({ $0[database.name] }), cached.epoch == epoch { return cached }
        var compiled = CompiledPolicies(epoch: epoch, byTable: [:])
        guard !stored.isEmpty else { return compiled }
        let relations = try await Self.relations(database, connection: connection, logger: logger)
        for (table, select, insert, update, delete, enabled, _) in stored {
            guard let synchronized = database.table(table) else { continue }
            compiled.byTable[synchronized.name.lowercased()] = try PostgresTablePolicy(
                policy: TablePolicy(table: synchronized.name, select: select, insert: insert, update: update, delete: delete),
                table: synchronized, database: database, isEnabled: enabled, relations: relations)
        }
        let result = compiled
        policyCache.withLock { $0[database.name] = result }
        return result
    }
}

/// A database's compiled policies at one epoch.
struct CompiledPolicies: Sendable {
    var epoch: Int64
    /// Keyed by lowercased table name.
    var byTable: [String: PostgresTablePolicy]
}
