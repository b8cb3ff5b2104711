import CloudSyncCore
import Logging
import NIOCore
import PostgresNIO

/// The Row-Level Security operations of the PostgreSQL storage, over the schema's
/// `cloudsync_rls_users`, `cloudsync_rls_rows` and `cloudsync_rls_outbox`
/// (docs/postgres.md, "Row-Level Security"): many rows per statement, keys as arrays or
/// `VALUES` lists.
///
/// Used inside one transaction that holds the database's clock row (a merge, or a token
/// user's download), so that no writer of the database commits while it reads.
///
/// Not `Sendable`: bound to one connection's transaction.
final class PostgresRowSecurityStore: RowSecurityStore {
    let database: PostgresDatabase
    private let connection: PostgresConnection
    private let logger: Logger

    /// Rows per statement with a parameter per value.
    private static let batch = 500
    /// Keys per `= ANY($n)` array.
    private static let arrayBatch = 5000

    init(database: PostgresDatabase, connection: PostgresConnection, logger: Logger) {
        self.database = database
        self.connection = connection
        self.logger = logger
    }

    var serverSite: [UInt8] { database.siteID }

    private func table(_ name: String) -> String {
        database.qualified(name)
    }

    private func query(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws -> [PostgresRow] {
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
    }

    private func bindings(_ values: any PostgresEncodable & Sendable...) throws -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { try binds.append(value) }
        return binds
    }

    func schemaHash(for format: PayloadFormat) -> UInt64 {
        database.schema.hash(for: format)
    }

    func databaseVersion() async throws -> Int64 {
        try await query("SELECT db_version FROM \(table("cloudsync_clock"))").first?.decode(Int64.self) ?? 0
    }

    func hasChanges(table name: String, after version: Int64) async throws -> Bool {
        guard let synchronized = database.table(name) else { return false }
        return try await !query("SELECT 1 FROM \(table(synchronized.name + "_cloudsync")) WHERE db_version > $1 LIMIT 1", bindings(version)).isEmpty
    }

    // MARK: Rows

    /// The key values in a row's first columns (one per key column, selected with
    /// `PostgresValues.select`).
    private func keys(of table: PostgresTable, _ row: PostgresRow) throws -> [SQLValue] {
        let cells = row.makeRandomAccess()
        return try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
    }

    func visibleKeys(_ policy: PostgresTablePolicy) async throws -> Set<[UInt8]> {
        let table = policy.table
        let columns = table.key.map { PostgresValues.select(SQLText.identifier($0.name), $0.type) }.joined(separator: ", ")
        var result: Set<[UInt8]> = []
        for row in try await query("SELECT \(columns) FROM \(self.table(table.name)) WHERE \(policy.visible)") {
            result.insert(try PrimaryKeyCodec.encode(try keys(of: table, row)))
        }
        return result
    }

    func facts(_ policy: PostgresTablePolicy, of selection: RowFacts.Selection) async throws -> [[UInt8]: RowFacts] {
        switch selection {
        case .changedAfter(let version):
            let keyNames = policy.table.key.indices.map { "k\($0 + 1)" }.joined(separator: ", ")
            return try await facts(policy, keySource: "SELECT DISTINCT \(keyNames) FROM \(table(policy.table.name + "_cloudsync")) WHERE db_version > $1", bindings(version))
        case .keys(let pks):
            var result: [[UInt8]: RowFacts] = [:]
            for start in stride(from: 0, to: pks.count, by: Self.batch) {
                var binds = PostgresBindings()
                let values = try policy.table.keyValues(pks[start..<min(pks.count, start + Self.batch)].map { try PrimaryKeyCodec.decode($0) }, into: &binds)
                result.merge(try await facts(policy, keySource: "VALUES \(values)", binds)) { $1 }
            }
            return result
        }
    }

    /// The facts of the rows whose keys `keySource` selects (one column per key column, in key
    /// order), keyed by pk blob.
    private func facts(_ policy: PostgresTablePolicy, keySource: String, _ binds: PostgresBindings) async throws -> [[UInt8]: RowFacts] {
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
            let pk = try PrimaryKeyCodec.encode(try self.keys(of: table, row))
            result[pk] = RowFacts(pk: pk, length: try cells[n].decode(Int64.self), visible: try cells[n + 1].decode(Bool.self),
                                  oldest: try cells[n + 2].decode(Int64.self))
        }
        return result
    }

    func rowChanges(table name: String, pks: [[UInt8]]) async throws -> [[UInt8]: [Change]] {
        guard let table = database.table(name), !pks.isEmpty else { return [:] }
        var result: [[UInt8]: [Change]] = [:]
        let keyList = "(" + table.key.indices.map { "c.k\($0 + 1)" }.joined(separator: ", ") + ")"
        for start in stride(from: 0, to: pks.count, by: PostgresStorage.loadBatch) {
            var binds = PostgresBindings()
            let values = try table.keyValues(pks[start..<min(pks.count, start + PostgresStorage.loadBatch)].map { try PrimaryKeyCodec.decode($0) }, into: &binds)
            for change in try await PostgresStorage.clockChanges(
                table, database: database, where: "\(keyList) IN (\(values))", binds: binds, connection: connection, logger: logger) {
                result[change.pk, default: []].append(change)
            }
        }
        return result
    }

    func feed(excluding site: SiteID, after cursor: SyncCursor, limit: Int) async throws -> [Change] {
        // With every table read up to the limit, the first `limit` of their union are the
        // first of the feed.
        var changes: [Change] = []
        for table in database.schema.tables {
            changes += try await PostgresStorage.feed(table, database: database, excluding: site, after: cursor, limit: limit, connection: connection, logger: logger)
        }
        return Array(changes.sorted(by: PostgresStorage.feedOrder).prefix(limit))
    }

    // MARK: The user's state

    func evaluation(user: String) async throws -> RowSecurityEvaluation? {
        try await query("SELECT evaluated_version, epoch, claims FROM \(table("cloudsync_rls_users")) WHERE user_id = $1", bindings(user)).first
            .map { row in
                let (version, epoch, claims) = try row.decode((Int64, Int64, String).self)
                return RowSecurityEvaluation(version: version, epoch: epoch, claims: claims)
            }
    }

    func recordEvaluation(_ evaluation: RowSecurityEvaluation, user: String) async throws {
        _ = try await query("""
            INSERT INTO \(table("cloudsync_rls_users")) (user_id, evaluated_version, epoch, claims) VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_id) DO UPDATE SET evaluated_version = EXCLUDED.evaluated_version, epoch = EXCLUDED.epoch, claims = EXCLUDED.claims
            """, bindings(user, evaluation.version, evaluation.epoch, evaluation.claims))
    }

    func entries(user: String, table: String, pks: [[UInt8]]) async throws -> [[UInt8]: MirrorEntry] {
        var result: [[UInt8]: MirrorEntry] = [:]
        for start in stride(from: 0, to: pks.count, by: Self.arrayBatch) {
            let keys = pks[start..<min(pks.count, start + Self.arrayBatch)].map { ByteBuffer(bytes: $0) }
            for row in try await query(
                "SELECT pk, mirrored, cl_offset, hidden_cl FROM \(self.table("cloudsync_rls_rows")) WHERE user_id = $1 AND tbl = $2 AND pk = ANY($3)",
                bindings(user, table, keys)) {
                let (pk, mirrored, offset, hidden) = try row.decode((ByteBuffer, Bool, Int64, Int64).self)
                result[Array(pk.readableBytesView)] = MirrorEntry(mirrored: mirrored, offset: offset, hiddenCL: hidden)
            }
        }
        return result
    }

    func mirroredKeys(user: String, table: String) async throws -> Set<[UInt8]> {
        Set(try await query(
            "SELECT pk FROM \(self.table("cloudsync_rls_rows")) WHERE user_id = $1 AND tbl = $2 AND mirrored", bindings(user, table)
        ).map { Array(try $0.decode(ByteBuffer.self).readableBytesView) })
    }

    func carrierCandidates(user: String) async throws -> [CarrierCandidate] {
        try await query(
            "SELECT tbl, pk, mirrored, cl_offset, hidden_cl FROM \(table("cloudsync_rls_rows")) WHERE user_id = $1 ORDER BY mirrored DESC LIMIT 8", bindings(user)
        ).map { row in
            let (table, pk, mirrored, offset, hidden) = try row.decode((String, ByteBuffer, Bool, Int64, Int64).self)
            return CarrierCandidate(table: table, pk: Array(pk.readableBytesView), entry: MirrorEntry(mirrored: mirrored, offset: offset, hiddenCL: hidden))
        }
    }

    func storeEntries(_ entries: [String: [[UInt8]: MirrorEntry]], user: String) async throws {
        // One statement, the rows as arrays: no limit on parameters.
        let rows = entries.flatMap { table, rows in rows.map { (table: table, pk: $0.key, entry: $0.value) } }
        guard !rows.isEmpty else { return }
        _ = try await query("""
            INSERT INTO \(table("cloudsync_rls_rows")) (user_id, tbl, pk, mirrored, cl_offset, hidden_cl)
            SELECT $1, * FROM unnest($2::text[], $3::bytea[], $4::boolean[], $5::bigint[], $6::bigint[])
            ON CONFLICT (user_id, tbl, pk) DO UPDATE SET mirrored = EXCLUDED.mirrored, cl_offset = EXCLUDED.cl_offset, hidden_cl = EXCLUDED.hidden_cl
            """, bindings(user, rows.map(\.table), rows.map { ByteBuffer(bytes: $0.pk) }, rows.map(\.entry.mirrored), rows.map(\.entry.offset), rows.map(\.entry.hiddenCL)))
    }

    func reserveVersion() async throws -> Int64 {
        // Taken out of the stamp sequence: the transaction's own stamps (if any) keep theirs,
        // and the next stamp, in any transaction, comes after it (the clock row is held).
        try await query(
            "UPDATE \(table("cloudsync_clock")) SET db_version = db_version + 1, xact = NULL, seq = 0 RETURNING db_version"
        ).first?.decode(Int64.self) ?? 0
    }

    func storeEvents(_ events: [FilteredPageBuilder.OutboxEvent], user: String) async throws {
        guard !events.isEmpty else { return }
        _ = try await query("""
            INSERT INTO \(table("cloudsync_rls_outbox")) (user_id, db_version, seq, tbl, pk, kind, cl)
            SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bytea[], $6::text[], $7::bigint[])
            """, bindings(user, events.map(\.version), events.map(\.seq), events.map(\.table), events.map { ByteBuffer(bytes: $0.pk) },
                          events.map(\.event.kind.rawValue), events.map(\.event.cl)))
    }

    func outbox(user: String, after cursor: SyncCursor, limit: Int) async throws -> [FilteredPageBuilder.OutboxEvent] {
        try await query("""
            SELECT db_version, seq, tbl, pk, kind, cl FROM \(table("cloudsync_rls_outbox"))
            WHERE user_id = $1 AND (db_version, seq) > ($2, $3) ORDER BY db_version, seq LIMIT $4
            """, bindings(user, cursor.dbVersion, cursor.seq, Int64(limit))).compactMap { row in
            let (version, seq, table, pk, kind, cl) = try row.decode((Int64, Int64, String, ByteBuffer, String, Int64).self)
            guard let kind = MirrorEntry.Event.Kind(rawValue: kind) else { return nil }
            return FilteredPageBuilder.OutboxEvent(version: version, seq: seq, table: table, pk: Array(pk.readableBytesView), event: MirrorEntry.Event(kind: kind, cl: cl))
        }
    }
}
