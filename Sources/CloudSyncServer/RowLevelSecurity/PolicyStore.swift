import CloudSyncCore

/// The Row-Level Security tables inside a managed database, next to the data they protect,
/// so that a policy, the per-user state and the rows commit together.
///
///     cloudsync_rls_policies  table -> expressions, enabled, epoch (bumped on every change)
///     cloudsync_rls_users     user -> db_version up to which their visibility is computed,
///                             and the policy epoch and claims it was computed with
///     cloudsync_rls_rows      (user, table, pk) -> mirrored?, causal-length offset, hidden cl
///     cloudsync_rls_outbox    (user, db_version, seq) -> synthesized hide/show of a row
///
/// The `cloudsync_` prefix keeps these tables out of the engine's schema hash and table lists.
enum PolicyStore {
    static let schema = """
        CREATE TABLE IF NOT EXISTS cloudsync_rls_policies(
          tbl TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
          select_expr TEXT, insert_expr TEXT, update_expr TEXT, delete_expr TEXT,
          enabled INTEGER NOT NULL, epoch INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS cloudsync_rls_users(
          user_id TEXT PRIMARY KEY NOT NULL, evaluated_version INTEGER NOT NULL,
          epoch INTEGER NOT NULL, claims TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS cloudsync_rls_rows(
          user_id TEXT NOT NULL, tbl TEXT NOT NULL, pk BLOB NOT NULL,
          mirrored INTEGER NOT NULL, cl_offset INTEGER NOT NULL, hidden_cl INTEGER NOT NULL,
          PRIMARY KEY(user_id, tbl, pk)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS cloudsync_rls_outbox(
          user_id TEXT NOT NULL, db_version INTEGER NOT NULL, seq INTEGER NOT NULL,
          tbl TEXT NOT NULL, pk BLOB NOT NULL, kind TEXT NOT NULL, cl INTEGER NOT NULL,
          PRIMARY KEY(user_id, db_version, seq)) WITHOUT ROWID;
        """

    static func install(on connection: Connection) throws(CloudSyncError) {
        try connection.execute(schema)
    }

    /// True if any table of the database has, or once had, policies. Works before `install`.
    static func hasPolicies(_ connection: Connection) throws(CloudSyncError) -> Bool {
        guard try connection.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cloudsync_rls_policies'") != nil else {
            return false
        }
        return try connection.scalar("SELECT 1 FROM cloudsync_rls_policies LIMIT 1") != nil
    }

    /// The current policy epoch: changes whenever any policy is set or disabled.
    static func epoch(_ connection: Connection) throws(CloudSyncError) -> Int64 {
        try connection.scalar("SELECT COALESCE(max(epoch), 0) FROM cloudsync_rls_policies")?.integerValue ?? 0
    }

    /// Every stored policy with its enabled flag, sorted by table.
    static func load(_ connection: Connection) throws(CloudSyncError) -> [(policy: TablePolicy, enabled: Bool)] {
        try connection.rows("SELECT tbl, select_expr, insert_expr, update_expr, delete_expr, enabled FROM cloudsync_rls_policies ORDER BY tbl")
            .map { row in
                (TablePolicy(
                    table: row[0].stringValue ?? "", select: row[1].stringValue, insert: row[2].stringValue,
                    update: row[3].stringValue, delete: row[4].stringValue),
                 (row[5].integerValue ?? 0) != 0)
            }
    }

    /// Compiles the stored policies of the tables that are still synchronized, keyed by
    /// lowercased table name.
    static func compiled(_ context: SyncContext) throws -> [String: CompiledTablePolicy] {
        let connection = context.connection
        let stored = try load(connection)
        guard !stored.isEmpty else { return [:] }
        let synchronized = Set(try context.synchronizedTableNames.map { $0.lowercased() })
        let all = try tableNames(connection)
        var result: [String: CompiledTablePolicy] = [:]
        for (policy, enabled) in stored {
            guard let table = try context.synchronizedTable(named: policy.table) else { continue }
            result[table.name.lowercased()] = try CompiledTablePolicy(
                policy: policy, table: table, isEnabled: enabled, synchronizedTables: synchronized, allTables: all)
        }
        return result
    }

    static func tableNames(_ connection: Connection) throws(CloudSyncError) -> Set<String> {
        Set(try connection.rows("SELECT lower(name) FROM sqlite_master WHERE type IN ('table', 'view')").compactMap { $0.first?.stringValue })
    }

    /// Validates and stores `policy`, enabling RLS on its table.
    static func set(_ policy: TablePolicy, context: SyncContext) throws -> TablePolicy {
        let connection = context.connection
        try install(on: connection)
        guard let table = try context.synchronizedTable(named: policy.table) else {
            throw TablePolicy.notSynchronized(policy.table)
        }
        var stored = policy
        stored.table = table.name
        let compiled = try CompiledTablePolicy(
            policy: stored, table: table, isEnabled: true,
            synchronizedTables: Set(try context.synchronizedTableNames.map { $0.lowercased() }),
            allTables: try tableNames(connection))
        try compiled.validate(on: connection)
        try connection.run("""
            INSERT INTO cloudsync_rls_policies(tbl, select_expr, insert_expr, update_expr, delete_expr, enabled, epoch)
            VALUES (?1, ?2, ?3, ?4, ?5, 1, (SELECT COALESCE(max(epoch), 0) + 1 FROM cloudsync_rls_policies))
            ON CONFLICT(tbl) DO UPDATE SET select_expr = excluded.select_expr, insert_expr = excluded.insert_expr,
              update_expr = excluded.update_expr, delete_expr = excluded.delete_expr, enabled = 1, epoch = excluded.epoch
            """, [.string(table.name), text(stored.select), text(stored.insert), text(stored.update), text(stored.delete)])
        return stored
    }

    /// Disables RLS on `table`. Throws `.invalidPolicy` if it has no policy.
    static func disable(table: String, context: SyncContext) throws {
        let connection = context.connection
        guard try hasPolicies(connection) else {
            throw TablePolicy.noEnabledPolicy(table)
        }
        try connection.run("""
            UPDATE cloudsync_rls_policies SET enabled = 0, epoch = (SELECT max(epoch) + 1 FROM cloudsync_rls_policies)
            WHERE tbl = ?1 AND enabled = 1
            """, [.string(table)])
        guard connection.changes > 0 else {
            throw TablePolicy.noEnabledPolicy(table)
        }
    }

    private static func text(_ value: String?) -> SQLValue {
        value.map { .string($0) } ?? .null
    }
}
