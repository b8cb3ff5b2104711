import CloudSyncCore
import Logging
import NIOCore
import PostgresNIO

/// One token user's view of the policy-protected rows of a PostgreSQL database, and what their
/// devices hold of them: `RowVisibility` of the embedded storage, over the schema's
/// `cloudsync_rls_users`, `cloudsync_rls_rows` and `cloudsync_rls_outbox`, with the same
/// `MirrorEntry` rules.
///
/// Used inside one transaction that holds the database's clock row (a merge, or a token
/// user's download), so that no writer of the database commits while it reads. Entry changes
/// and events are kept here and written by `flush()`, a few statements for many rows.
///
/// Not `Sendable`: bound to one connection's transaction.
final class PostgresRowVisibility {
    let database: PostgresDatabase
    let claims: AccessClaims
    let policies: [String: PostgresTablePolicy]
    let epoch: Int64
    private let connection: PostgresConnection
    private let logger: Logger
    /// Entries changed and not yet written: table -> pk -> entry.
    private var changed: [String: [[UInt8]: MirrorEntry]] = [:]
    private var pendingEvents: [(table: String, pk: [UInt8], event: MirrorEntry.Event)] = []
    private var eventVersion: Int64?
    private var eventSeq: Int64 = 0

    /// Rows per statement with a parameter per value.
    private static let batch = 500
    /// Keys per `= ANY($n)` array.
    private static let arrayBatch = 5000

    private init(database: PostgresDatabase, claims: AccessClaims, policies: [String: PostgresTablePolicy], epoch: Int64, connection: PostgresConnection, logger: Logger) {
        self.database = database
        self.claims = claims
        self.policies = policies
        self.epoch = epoch
        self.connection = connection
        self.logger = logger
    }

    /// The user's view, or nil when the database has no policies.
    static func load(_ database: PostgresDatabase, claims: AccessClaims, storage: PostgresStorage, connection: PostgresConnection) async throws -> PostgresRowVisibility? {
        let compiled = try await storage.compiledPolicies(database, connection: connection)
        guard !compiled.byTable.isEmpty else { return nil }
        return PostgresRowVisibility(database: database, claims: claims, policies: compiled.byTable, epoch: compiled.epoch, connection: connection, logger: storage.logger)
    }

    func policy(for table: String) -> PostgresTablePolicy? {
        policies[table.lowercased()]
    }

    private func table(_ name: String) -> String {
        database.qualified(name)
    }

    private func query(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws -> [PostgresRow] {
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
    }

    // MARK: Entries

    /// The entries of `pks` of `table` (absent: the user's devices never had the row).
    func entries(table: String, pks: [[UInt8]]) async throws -> [[UInt8]: MirrorEntry] {
        var result: [[UInt8]: MirrorEntry] = [:]
        let unknown = pks.filter { changed[table]?[$0] == nil }
        for start in stride(from: 0, to: unknown.count, by: Self.arrayBatch) {
            var binds = PostgresBindings()
            binds.append(claims.userID)
            binds.append(table)
            binds.append(unknown[start..<min(unknown.count, start + Self.arrayBatch)].map { ByteBuffer(bytes: $0) })
            for row in try await query(
                "SELECT pk, mirrored, cl_offset, hidden_cl FROM \(self.table("cloudsync_rls_rows")) WHERE user_id = $1 AND tbl = $2 AND pk = ANY($3)", binds) {
                let (pk, mirrored, offset, hidden) = try row.decode((ByteBuffer, Bool, Int64, Int64).self)
                result[Array(pk.readableBytesView)] = MirrorEntry(mirrored: mirrored, offset: offset, hiddenCL: hidden)
            }
        }
        for pk in pks {
            if let entry = changed[table]?[pk] { result[pk] = entry }
        }
        return result
    }

    /// The rows of `table` the user's devices mirror.
    private func mirroredKeys(table: String) async throws -> Set<[UInt8]> {
        var binds = PostgresBindings()
        binds.append(claims.userID)
        binds.append(table)
        var keys = Set(try await query(
            "SELECT pk FROM \(self.table("cloudsync_rls_rows")) WHERE user_id = $1 AND tbl = $2 AND mirrored", binds
        ).map { Array(try $0.decode(ByteBuffer.self).readableBytesView) })
        for (pk, entry) in changed[table] ?? [:] {
            if entry.mirrored { keys.insert(pk) } else { keys.remove(pk) }
        }
        return keys
    }

    /// A few rows the user's devices hold, mirrored first: candidates for a cursor carrier.
    func someEntries() async throws -> [(table: String, pk: [UInt8], entry: MirrorEntry)] {
        var binds = PostgresBindings()
        binds.append(claims.userID)
        return try await query(
            "SELECT tbl, pk, mirrored, cl_offset, hidden_cl FROM \(table("cloudsync_rls_rows")) WHERE user_id = $1 ORDER BY mirrored DESC LIMIT 8", binds
        ).map { row in
            let (table, pk, mirrored, offset, hidden) = try row.decode((String, ByteBuffer, Bool, Int64, Int64).self)
            return (table, Array(pk.readableBytesView), MirrorEntry(mirrored: mirrored, offset: offset, hiddenCL: hidden))
        }
    }

    // MARK: Rows

    /// What the server holds of a row, as the visibility rules need it.
    struct RowFacts {
        var pk: [UInt8]
        /// The server's causal length (odd: live).
        var length: Int64
        /// The row exists and passes the select policy.
        var visible: Bool
        /// The oldest `db_version` of its clocks.
        var oldest: Int64
    }

    /// The facts of the rows whose keys `keySource` selects (one column per key column, in key
    /// order), keyed by pk blob.
    func facts(_ policy: PostgresTablePolicy, keySource: String, _ binds: PostgresBindings) async throws -> [[UInt8]: RowFacts] {
        let table = policy.table
        let names = table.key.indices.map { "k\($0 + 1)" }
        let keys = names.map { "cloudsync_keys.\($0)" }.joined(separator: ", ")
        func match(_ other: String) -> String { names.map { "\(other).\($0) = cloudsync_keys.\($0)" }.joined(separator: " AND ") }
        // Joins and one aggregate rather than subqueries per key: the plan stays linear even
        // while the tables grow faster than their statistics.
        let sql = """
            SELECT \(zip(table.key, names).map { PostgresValues.select("cloudsync_keys.\($1)", $0.type) }.joined(separator: ", ")),
              COALESCE(max(c.col_version) FILTER (WHERE c.col_name = '\(Change.sentinelColumn)'),
                       CASE WHEN count(c.col_name) > 0 THEN 1 ELSE 0 END)::bigint,
              bool_or(cloudsync_visible.k1 IS NOT NULL),
              COALESCE(min(c.db_version), 0)::bigint
            FROM (\(keySource)) AS cloudsync_keys(\(names.joined(separator: ", ")))
            LEFT JOIN \(self.table(table.name + "_cloudsync")) c ON \(match("c"))
            LEFT JOIN (SELECT \(table.key.map { SQLText.identifier($0.name) }.joined(separator: ", ")) FROM \(self.table(table.name)) WHERE \(policy.visible))
              AS cloudsync_visible(\(names.joined(separator: ", "))) ON \(match("cloudsync_visible"))
            GROUP BY \(keys)
            """
        var result: [[UInt8]: RowFacts] = [:]
        let n = table.key.count
        for row in try await query(sql, binds) {
            let cells = row.makeRandomAccess()
            let key = try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
            let pk = try PrimaryKeyCodec.encode(key)
            result[pk] = RowFacts(pk: pk, length: try cells[n].decode(Int64.self), visible: try cells[n + 1].decode(Bool.self),
                                  oldest: try cells[n + 2].decode(Int64.self))
        }
        return result
    }

    /// The facts of the rows `pks` of the policy's table.
    func facts(_ policy: PostgresTablePolicy, pks: [[UInt8]]) async throws -> [[UInt8]: RowFacts] {
        var result: [[UInt8]: RowFacts] = [:]
        for start in stride(from: 0, to: pks.count, by: Self.batch) {
            var binds = PostgresBindings()
            let values = try policy.table.keyValues(pks[start..<min(pks.count, start + Self.batch)].map { try PrimaryKeyCodec.decode($0) }, into: &binds)
            result.merge(try await facts(policy, keySource: "VALUES \(values)", binds)) { $1 }
        }
        return result
    }

    // MARK: Refresh

    /// Brings the user's visibility up to date with every change committed so far, as
    /// `RowVisibility.refresh` does: rows changed since the last refresh one by one, a whole
    /// table when its policy, the user's claims, or a table its select policy reads changed.
    func refresh() async throws {
        let now = try await query("SELECT db_version FROM \(table("cloudsync_clock"))").first?.decode(Int64.self) ?? 0
        var binds = PostgresBindings()
        binds.append(claims.userID)
        let state = try await query("SELECT evaluated_version, epoch, claims FROM \(table("cloudsync_rls_users")) WHERE user_id = $1", binds).first
            .map { try $0.decode((Int64, Int64, String).self) }
        let since = state?.0 ?? 0
        let everything = state == nil || state?.1 != epoch || state?.2 != claims.policyInputs
        for policy in policies.values.sorted(by: { $0.table.name < $1.table.name }) {
            var whole = everything || policy.dependsOnUntrackedTable
            for dependency in policy.selectDependencies where !whole {
                guard let synchronized = database.table(dependency) else { continue }
                var binds = PostgresBindings()
                binds.append(since)
                whole = try await !query("SELECT 1 FROM \(table(synchronized.name + "_cloudsync")) WHERE db_version > $1 LIMIT 1", binds).isEmpty
            }
            let name = policy.table.name
            let keyColumns = policy.table.key.map { SQLText.identifier($0.name) }.joined(separator: ", ")
            if whole {
                let rows = try await facts(policy, keySource: "SELECT \(keyColumns) FROM \(table(name))", PostgresBindings())
                let visible = Set(rows.values.filter(\.visible).map(\.pk))
                let mirrored = try await mirroredKeys(table: name)
                let shown = visible.subtracting(mirrored).sorted { $0.lexicographicallyPrecedes($1) }
                let shownEntries = try await entries(table: name, pks: shown)
                for pk in shown {
                    guard let row = rows[pk], row.length % 2 == 1 else { continue }
                    apply(MirrorEntry.show(shownEntries[pk], length: row.length, changesAreAllNew: row.oldest > since), table: name, pk: pk)
                }
                let hidden = mirrored.subtracting(visible).sorted { $0.lexicographicallyPrecedes($1) }
                let hiddenFacts = try await facts(policy, pks: hidden)
                let hiddenEntries = try await entries(table: name, pks: hidden)
                for pk in hidden {
                    // A deleted row stays mirrored: its delete reaches the devices as a real change.
                    guard let row = hiddenFacts[pk], row.length % 2 == 1 else { continue }
                    apply(MirrorEntry.hide(hiddenEntries[pk], length: row.length), table: name, pk: pk)
                }
            } else {
                var binds = PostgresBindings()
                binds.append(since)
                let keyNames = policy.table.key.indices.map { "k\($0 + 1)" }.joined(separator: ", ")
                let rows = try await facts(policy, keySource: "SELECT DISTINCT \(keyNames) FROM \(table(name + "_cloudsync")) WHERE db_version > $1", binds)
                let pks = rows.keys.sorted { $0.lexicographicallyPrecedes($1) }
                let existing = try await entries(table: name, pks: pks)
                for pk in pks {
                    guard let row = rows[pk], row.length % 2 == 1 else { continue }
                    let mirrored = existing[pk]?.mirrored ?? false
                    if row.visible && !mirrored {
                        apply(MirrorEntry.show(existing[pk], length: row.length, changesAreAllNew: row.oldest > since), table: name, pk: pk)
                    } else if !row.visible && mirrored {
                        apply(MirrorEntry.hide(existing[pk], length: row.length), table: name, pk: pk)
                    }
                }
            }
        }
        var upsert = PostgresBindings()
        upsert.append(claims.userID)
        upsert.append(now)
        upsert.append(epoch)
        upsert.append(claims.policyInputs)
        _ = try await query("""
            INSERT INTO \(table("cloudsync_rls_users")) (user_id, evaluated_version, epoch, claims) VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_id) DO UPDATE SET evaluated_version = EXCLUDED.evaluated_version, epoch = EXCLUDED.epoch, claims = EXCLUDED.claims
            """, upsert)
    }

    // MARK: Transitions

    /// Records a transition, written by `flush()`.
    func apply(_ transition: MirrorEntry.Transition, table: String, pk: [UInt8]) {
        changed[table, default: [:]][pk] = transition.entry
        if let event = transition.event { pendingEvents.append((table, pk, event)) }
    }

    /// Writes the changed entries, and the events at a version reserved for them: above every
    /// version given so far, and below every later one (the clock row is held).
    func flush() async throws {
        // One statement each, the rows as arrays: no limit on parameters.
        let entries = changed.flatMap { table, rows in rows.map { (table: table, pk: $0.key, entry: $0.value) } }
        if !entries.isEmpty {
            var binds = PostgresBindings()
            binds.append(claims.userID)
            binds.append(entries.map(\.table))
            binds.append(entries.map { ByteBuffer(bytes: $0.pk) })
            binds.append(entries.map(\.entry.mirrored))
            binds.append(entries.map(\.entry.offset))
            binds.append(entries.map(\.entry.hiddenCL))
            _ = try await query("""
                INSERT INTO \(table("cloudsync_rls_rows")) (user_id, tbl, pk, mirrored, cl_offset, hidden_cl)
                SELECT $1, * FROM unnest($2::text[], $3::bytea[], $4::boolean[], $5::bigint[], $6::bigint[])
                ON CONFLICT (user_id, tbl, pk) DO UPDATE SET mirrored = EXCLUDED.mirrored, cl_offset = EXCLUDED.cl_offset, hidden_cl = EXCLUDED.hidden_cl
                """, binds)
        }
        changed = [:]
        guard !pendingEvents.isEmpty else { return }
        let version: Int64
        if let eventVersion {
            version = eventVersion
        } else {
            // The version is taken out of the stamp sequence: the transaction's own stamps (if
            // any) keep theirs, and the next stamp, in any transaction, comes after it.
            version = try await query(
                "UPDATE \(table("cloudsync_clock")) SET db_version = db_version + 1, xact = NULL, seq = 0 RETURNING db_version"
            ).first?.decode(Int64.self) ?? 0
            eventVersion = version
        }
        var binds = PostgresBindings()
        binds.append(claims.userID)
        binds.append(version)
        binds.append(eventSeq)
        binds.append(pendingEvents.map(\.table))
        binds.append(pendingEvents.map { ByteBuffer(bytes: $0.pk) })
        binds.append(pendingEvents.map(\.event.kind.rawValue))
        binds.append(pendingEvents.map(\.event.cl))
        _ = try await query("""
            INSERT INTO \(table("cloudsync_rls_outbox")) (user_id, db_version, seq, tbl, pk, kind, cl)
            SELECT $1, $2, $3 + u.n - 1, u.tbl, u.pk, u.kind, u.cl
            FROM unnest($4::text[], $5::bytea[], $6::text[], $7::bigint[]) WITH ORDINALITY AS u(tbl, pk, kind, cl, n)
            """, binds)
        eventSeq += Int64(pendingEvents.count)
        pendingEvents = []
    }

    /// The user's outbox after `cursor`, at most `limit` events, and whether that is all.
    func outbox(after cursor: SyncCursor, limit: Int) async throws -> (events: [FilteredPageBuilder.OutboxEvent], complete: Bool) {
        var binds = PostgresBindings()
        binds.append(claims.userID)
        binds.append(cursor.dbVersion)
        binds.append(cursor.seq)
        binds.append(Int64(limit + 1))
        let events = try await query("""
            SELECT db_version, seq, tbl, pk, kind, cl FROM \(table("cloudsync_rls_outbox"))
            WHERE user_id = $1 AND (db_version, seq) > ($2, $3) ORDER BY db_version, seq LIMIT $4
            """, binds).compactMap { row -> FilteredPageBuilder.OutboxEvent? in
            let (version, seq, table, pk, kind, cl) = try row.decode((Int64, Int64, String, ByteBuffer, String, Int64).self)
            guard let kind = MirrorEntry.Event.Kind(rawValue: kind) else { return nil }
            return FilteredPageBuilder.OutboxEvent(version: version, seq: seq, table: table, pk: Array(pk.readableBytesView), event: MirrorEntry.Event(kind: kind, cl: cl))
        }
        return (Array(events.prefix(limit)), events.count <= limit)
    }
}

extension PostgresTable {
    /// `(…), (…)`: one tuple of placeholders per key, its values appended to `binds`.
    func keyValues(_ keys: [[SQLValue]], into binds: inout PostgresBindings) throws -> String {
        var tuples: [String] = []
        for values in keys {
            guard values.count == key.count else {
                throw SyncStorageError(.badPayload, "a key of table \(name) has \(values.count) values instead of \(key.count)")
            }
            var marks: [String] = []
            for (index, column) in key.enumerated() {
                try PostgresValues.bind(values[index], as: column.type, column: "\(name).\(column.name)", into: &binds)
                marks.append(PostgresValues.placeholder(binds.count, column.type))
            }
            tuples.append("(" + marks.joined(separator: ", ") + ")")
        }
        return tuples.joined(separator: ", ")
    }
}
