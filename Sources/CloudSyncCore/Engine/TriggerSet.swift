/// The triggers that record local writes of one synchronized table, and the clock statements
/// they run.
///
/// The clock writes are plain SQL inside the triggers, so they run as part of the user's
/// statement; the engine contributes only small functions: the transaction's `db_version`
/// (`cloudsync_db_version_next()`), the next `seq` (`cloudsync_seq()`) and key encoding. Only
/// a primary-key change calls back into Swift (`cloudsync_update_key`). The triggers stay
/// quiet while the connection is merging or the table's tracking is paused.
struct TriggerSet {
    let table: SyncTable

    private static let rip = SQLText.literal(Change.sentinelColumn)
    private static let version = "cloudsync_db_version_next()"
    private static let seq = "cloudsync_seq()"

    static func triggerName(_ table: String, _ kind: String) -> String {
        SQLText.identifier("cloudsync_\(kind)_\(table)")
    }

    /// The names of the engine's triggers on `table`, as the schema has them.
    private static func installed(on table: String, _ connection: Connection) throws(CloudSyncError) -> [String] {
        try connection.rows(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 COLLATE NOCASE AND name LIKE 'cloudsync\\_%' ESCAPE '\\'",
            [.string(table)]).compactMap { $0.first?.stringValue }
    }

    private var clockColumns: String { "\(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq)" }

    /// The key blob of a row alias (`NEW`, `OLD`).
    func keyExpression(_ row: String) -> String {
        "cloudsync_pk_encode(" + table.primaryKey.map { "\(row).\(SQLText.identifier($0))" }.joined(separator: ", ") + ")"
    }

    /// Whether the row alias `row` satisfies the table's filter (`cloudsync_set_filter`), as an
    /// SQL condition; nil when the table has none. The expression names bare columns, so it is
    /// evaluated over a one-row subquery that gives each of `row`'s columns its own name.
    func filterCondition(_ row: String) -> String? {
        table.filter.map { Self.filterCondition($0, row: row, columns: table.primaryKey + table.columns) }
    }

    static func filterCondition(_ expression: String, row: String, columns: [String]) -> String {
        let named = columns.map { "\(row).\(SQLText.identifier($0)) AS \(SQLText.identifier($0))" }.joined(separator: ", ")
        // A line break follows the expression, so a `--` comment at its end stops there instead
        // of swallowing the closing parentheses.
        return "EXISTS (SELECT 1 FROM (SELECT \(named)) WHERE (\(expression)\n))"
    }

    /// Records the insert of rows: a deleted key comes back at the next odd causal length
    /// (`revive`); every non-key column gets a clock, version 1 or +1 where one exists (`record`).
    /// - Parameters:
    ///   - row: the alias whose columns hold the key (`NEW` in the trigger).
    ///   - source: FROM terms providing `row` (none in the trigger).
    ///   - filter: which rows to record.
    func insertStatements(row: String, source: String? = nil, filter: String = "true") -> (revive: String?, record: String) {
        let key = keyExpression(row)
        // Block columns keep clocks per block (`blockStatement`), none under their own name.
        guard !table.plainColumns.isEmpty else {
            let record = """
                INSERT INTO \(clockColumns) SELECT \(key), \(Self.rip), 1, \(Self.version), 0, \(Self.seq) \(source.map { "FROM " + $0 } ?? "") WHERE \(filter)
                  ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq WHERE col_version % 2 = 0
                """
            return (nil, record)
        }
        let names = table.plainColumns.map { "(\(SQLText.literal($0)))" }.joined(separator: ", ")
        let revive = """
            UPDATE \(table.clockTable) SET col_version = col_version + 1, db_version = \(Self.version), site_id = 0, seq = \(Self.seq)
              WHERE pk = \(key) AND col_name = \(Self.rip) AND col_version % 2 = 0
            """
        let record = """
            INSERT INTO \(clockColumns) SELECT \(key), c.column1, 1, \(Self.version), 0, \(Self.seq)
              FROM \(source.map { $0 + ", " } ?? "")(VALUES \(names)) AS c WHERE \(filter)
              ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq
            """
        return (revive, record)
    }

    /// Records the delete of the row whose key blob is `key`: the sentinel moves to the next
    /// even causal length; the other clocks are dropped, or, for add-wins, kept and sent along.
    func deleteStatements(key: String) -> [String] {
        let sentinel = """
            INSERT INTO \(clockColumns) VALUES (\(key), \(Self.rip), 2, \(Self.version), 0, \(Self.seq))
              ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 2 - (col_version % 2), db_version = excluded.db_version, site_id = 0, seq = excluded.seq
            """
        let others = table.algorithm == .addWins
            ? "UPDATE \(table.clockTable) SET db_version = \(Self.version), site_id = 0, seq = \(Self.seq) WHERE pk = \(key) AND col_name != \(Self.rip)"
            : "DELETE FROM \(table.clockTable) WHERE pk = \(key) AND col_name != \(Self.rip)"
        return [sentinel, others]
    }

    /// Whether `old` and `new` differ in storage class or bytes (collations aside).
    private static func differs(_ old: String, _ new: String) -> String {
        "NOT (\(old) IS \(new) COLLATE BINARY AND typeof(\(old)) = typeof(\(new)))"
    }

    private var keyChanged: String {
        table.primaryKey
            .map { Self.differs("OLD.\(SQLText.identifier($0))", "NEW.\(SQLText.identifier($0))") }
            .joined(separator: " OR ")
    }

    /// Records column `column` when an update changed it and kept the key.
    private func updateStatement(_ column: String) -> String {
        let (old, new) = ("OLD.\(SQLText.identifier(column))", "NEW.\(SQLText.identifier(column))")
        return """
            INSERT INTO \(clockColumns) SELECT \(keyExpression("NEW")), \(SQLText.literal(column)), 1, \(Self.version), 0, \(Self.seq)
              WHERE NOT (\(keyChanged)) AND \(Self.differs(old, new))
              ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq
            """
    }

    /// Records the new text of block column `column` of the row `row` as block changes
    /// (`cloudsync_block_write`); `insert` tells a new row from an update.
    private func blockStatement(_ column: String, row: String, insert: Bool, condition: String = "true") -> String {
        "SELECT cloudsync_block_write(\(SQLText.literal(table.name)), \(SQLText.literal(column)), \(keyExpression(row)), \(row).\(SQLText.identifier(column)), \(insert ? 1 : 0)) WHERE \(condition)"
    }

    func install(on connection: Connection) throws(CloudSyncError) {
        try Self.drop(table: table.name, on: connection)
        let name = SQLText.literal(table.name)
        let quiet = "cloudsync_is_sync(\(name)) = 0"
        func trigger(_ kind: String, _ timing: String, _ body: [String], row: String = "NEW") -> String {
            let when = [quiet, filterCondition(row)].compactMap { $0 }.joined(separator: " AND ")
            return "CREATE TRIGGER \(Self.triggerName(table.name, kind)) \(timing) ON \(table.quotedName) WHEN \(when)\nBEGIN\n"
                + body.map { $0 + ";\n" }.joined() + "END;\n"
        }
        let insert = insertStatements(row: "NEW")
        let blockInserts = table.columns.filter { table.blockColumns[$0] != nil }.map { blockStatement($0, row: "NEW", insert: true) }
        var sql = trigger("insert", "AFTER INSERT", [insert.revive, insert.record].compactMap { $0 } + blockInserts)
        if table.algorithm == .growOnlySet {
            for (kind, verb, participle) in [("before_update", "UPDATE", "updated"), ("before_delete", "DELETE", "deleted")] {
                let message = SQLText.literal("cloudsync: table \(table.name) is a grow-only set (gos): rows cannot be \(participle) while sync is enabled")
                sql += trigger(kind, "BEFORE \(verb)", ["SELECT RAISE(ABORT, \(message))"])
            }
        } else {
            let oldKey = table.primaryKey.map { "OLD.\(SQLText.identifier($0))" }
            let newKey = table.primaryKey.map { "NEW.\(SQLText.identifier($0))" }
            let pairs = table.columns.flatMap { ["OLD.\(SQLText.identifier($0))", "NEW.\(SQLText.identifier($0))"] }
            let keyChange = "SELECT cloudsync_update_key(\(([name] + oldKey + newKey + pairs).joined(separator: ", "))) WHERE \(keyChanged)"
            // One trigger per column (UPDATE OF): an UPDATE runs only the triggers of the
            // columns it sets, instead of testing every column of every updated row.
            sql += trigger("update_key", "AFTER UPDATE OF \(table.quotedKeyList)", [keyChange])
            for (index, column) in table.columns.enumerated() {
                let record = table.blockColumns[column] == nil
                    ? updateStatement(column)
                    : blockStatement(column, row: "NEW", insert: false, condition: "NOT (\(keyChanged)) AND \(Self.differs("OLD.\(SQLText.identifier(column))", "NEW.\(SQLText.identifier(column))"))")
                sql += trigger("update_\(index)", "AFTER UPDATE OF \(SQLText.identifier(column))", [record])
            }
            sql += trigger("delete", "AFTER DELETE", deleteStatements(key: keyExpression("OLD")), row: "OLD")
        }
        try connection.execute(sql)
    }

    static func drop(table: String, on connection: Connection) throws(CloudSyncError) {
        let names = try installed(on: table, connection)
        guard !names.isEmpty else { return }
        try connection.execute(names.map { "DROP TRIGGER IF EXISTS \(SQLText.identifier($0));" }.joined(separator: "\n"))
    }
}
