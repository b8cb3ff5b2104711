import CloudSyncCore

/// The Row-Level Security operations of the embedded storage, in SQLite on a managed
/// database's writer connection, inside its write transaction (`PolicyStore` has the tables).
/// SQLite is in-process, so rows are read one statement each, statements prepared once.
///
/// Not `Sendable`: bound to the writer connection.
final class EmbeddedRowSecurityStore: RowSecurityStore {
    let context: SyncContext
    let serverSite: [UInt8]
    private var statements: [String: Statement] = [:]
    private var connection: Connection { context.connection }

    init(context: SyncContext) throws(CloudSyncError) {
        self.context = context
        serverSite = try context.siteID()
    }

    /// The statement of `sql`, prepared once, bound to `arguments`.
    private func statement(_ sql: String, _ arguments: [SQLValue]) throws(CloudSyncError) -> Statement {
        let statement: Statement
        if let cached = statements[sql] {
            statement = cached
            statement.reset()
        } else {
            statement = try connection.prepare(sql)
            statements[sql] = statement
        }
        try statement.bind(arguments)
        return statement
    }

    private func rows(_ sql: String, _ arguments: [SQLValue] = []) throws(CloudSyncError) -> [[SQLValue]] {
        let statement = try statement(sql, arguments)
        defer { statement.reset() }
        var rows: [[SQLValue]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.value(at: $0) })
        }
        return rows
    }

    private func clockTable(_ table: String) throws(CloudSyncError) -> String {
        guard let info = try context.synchronizedTable(named: table) else {
            throw CloudSyncError(.unknownTable, "table \(table) is not synchronized")
        }
        return info.clockTable
    }

    func schemaHash(for format: PayloadFormat) throws -> UInt64 {
        try context.schemaHash(for: format)
    }

    func databaseVersion() throws -> Int64 {
        try context.databaseVersion()
    }

    func hasChanges(table: String, after version: Int64) throws -> Bool {
        guard let info = try context.synchronizedTable(named: table) else { return false }
        return try !rows("SELECT 1 FROM \(info.clockTable) WHERE db_version > ?1 LIMIT 1", [.integer(version)]).isEmpty
    }

    // MARK: Rows

    func visibleKeys(_ policy: CompiledTablePolicy) throws -> Set<[UInt8]> {
        Set(try rows(policy.selectAllSQL).compactMap { row -> [UInt8]? in
            guard case .blob(let pk) = row[0] else { return nil }
            return pk
        })
    }

    func facts(_ policy: CompiledTablePolicy, of selection: RowFacts.Selection) throws -> [[UInt8]: RowFacts] {
        let clocks = policy.table.clockTable
        let pks: [[UInt8]]
        switch selection {
        case .keys(let keys):
            pks = keys
        case .changedAfter(let version):
            pks = try rows("SELECT DISTINCT pk FROM \(clocks) WHERE db_version > ?1", [.integer(version)]).compactMap { row -> [UInt8]? in
                guard case .blob(let pk) = row[0] else { return nil }
                return pk
            }
        }
        var result: [[UInt8]: RowFacts] = [:]
        for pk in pks {
            let clock = try rows(
                "SELECT max(CASE WHEN col_name = ?2 THEN col_version END), count(*), COALESCE(min(db_version), 0) FROM \(clocks) WHERE pk = ?1",
                [.blob(pk), .string(Change.sentinelColumn)]).first ?? []
            let count = clock.count > 1 ? clock[1].integerValue ?? 0 : 0
            let length = clock.first?.integerValue ?? (count > 0 ? 1 : 0)
            var visible = false
            if length % 2 == 1 {
                visible = try rows(policy.selectRowSQL, try PrimaryKeyCodec.decode(pk)).first?.first?.integerValue == 1
            }
            result[pk] = RowFacts(pk: pk, length: length, visible: visible, oldest: clock.count > 2 ? clock[2].integerValue ?? 0 : 0)
        }
        return result
    }

    func rowChanges(table: String, pks: [[UInt8]]) throws -> [[UInt8]: [Change]] {
        var result: [[UInt8]: [Change]] = [:]
        for pk in pks {
            result[pk] = try context.rowChanges(table: table, pk: pk)
        }
        return result
    }

    func feed(excluding site: SiteID, after cursor: SyncCursor, limit: Int) throws -> [Change] {
        var changes: [Change] = []
        try context.forEachChange(where: [.after(dbVersion: cursor.dbVersion, seq: cursor.seq), .site(site.bytes, equal: false)]) { change in
            changes.append(change)
            return changes.count < limit
        }
        return changes
    }

    // MARK: The user's state

    func evaluation(user: String) throws -> RowSecurityEvaluation? {
        try rows("SELECT evaluated_version, epoch, claims FROM cloudsync_rls_users WHERE user_id = ?1", [.string(user)]).first.map { row in
            RowSecurityEvaluation(version: row[0].integerValue ?? 0, epoch: row[1].integerValue ?? 0, claims: row[2].stringValue ?? "")
        }
    }

    func recordEvaluation(_ evaluation: RowSecurityEvaluation, user: String) throws {
        _ = try rows(
            "INSERT OR REPLACE INTO cloudsync_rls_users(user_id, evaluated_version, epoch, claims) VALUES (?1, ?2, ?3, ?4)",
            [.string(user), .integer(evaluation.version), .integer(evaluation.epoch), .string(evaluation.claims)])
    }

    func entries(user: String, table: String, pks: [[UInt8]]) throws -> [[UInt8]: MirrorEntry] {
        var result: [[UInt8]: MirrorEntry] = [:]
        for pk in pks {
            guard let row = try rows(
                "SELECT mirrored, cl_offset, hidden_cl FROM cloudsync_rls_rows WHERE user_id = ?1 AND tbl = ?2 AND pk = ?3",
                [.string(user), .string(table), .blob(pk)]).first
            else { continue }
            result[pk] = Self.entry(row[0], row[1], row[2])
        }
        return result
    }

    func mirroredKeys(user: String, table: String) throws -> Set<[UInt8]> {
        Set(try rows("SELECT pk FROM cloudsync_rls_rows WHERE user_id = ?1 AND tbl = ?2 AND mirrored = 1", [.string(user), .string(table)])
            .compactMap { row -> [UInt8]? in
                guard case .blob(let pk) = row[0] else { return nil }
                return pk
            })
    }

    func carrierCandidates(user: String) throws -> [CarrierCandidate] {
        try rows("SELECT tbl, pk, mirrored, cl_offset, hidden_cl FROM cloudsync_rls_rows WHERE user_id = ?1 ORDER BY mirrored DESC LIMIT 8", [.string(user)])
            .compactMap { row in
                guard let table = row[0].stringValue, case .blob(let pk) = row[1] else { return nil }
                return CarrierCandidate(table: table, pk: pk, entry: Self.entry(row[2], row[3], row[4]))
            }
    }

    private static func entry(_ mirrored: SQLValue, _ offset: SQLValue, _ hidden: SQLValue) -> MirrorEntry {
        MirrorEntry(mirrored: mirrored.integerValue == 1, offset: offset.integerValue ?? 0, hiddenCL: hidden.integerValue ?? 0)
    }

    func storeEntries(_ entries: [String: [[UInt8]: MirrorEntry]], user: String) throws {
        for (table, rows) in entries {
            for (pk, entry) in rows {
                _ = try self.rows(
                    "INSERT OR REPLACE INTO cloudsync_rls_rows(user_id, tbl, pk, mirrored, cl_offset, hidden_cl) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    [.string(user), .string(table), .blob(pk), .integer(entry.mirrored ? 1 : 0), .integer(entry.offset), .integer(entry.hiddenCL)])
            }
        }
    }

    func reserveVersion() throws -> Int64 {
        try context.reserveVersion()
    }

    func storeEvents(_ events: [FilteredPageBuilder.OutboxEvent], user: String) throws {
        for event in events {
            _ = try rows(
                "INSERT INTO cloudsync_rls_outbox(user_id, db_version, seq, tbl, pk, kind, cl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                [.string(user), .integer(event.version), .integer(event.seq), .string(event.table), .blob(event.pk),
                 .string(event.event.kind.rawValue), .integer(event.event.cl)])
        }
    }

    func outbox(user: String, after cursor: SyncCursor, limit: Int) throws -> [FilteredPageBuilder.OutboxEvent] {
        try rows("""
            SELECT db_version, seq, tbl, pk, kind, cl FROM cloudsync_rls_outbox
            WHERE user_id = ?1 AND (db_version > ?2 OR (db_version = ?2 AND seq > ?3))
            ORDER BY db_version, seq LIMIT ?4
            """, [.string(user), .integer(cursor.dbVersion), .integer(cursor.seq), .integer(Int64(limit))]
        ).compactMap { row in
            guard case .blob(let pk) = row[3], let kind = MirrorEntry.Event.Kind(rawValue: row[4].stringValue ?? "") else { return nil }
            return FilteredPageBuilder.OutboxEvent(
                version: row[0].integerValue ?? 0, seq: row[1].integerValue ?? 0, table: row[2].stringValue ?? "",
                pk: pk, event: MirrorEntry.Event(kind: kind, cl: row[5].integerValue ?? 0))
        }
    }
}
