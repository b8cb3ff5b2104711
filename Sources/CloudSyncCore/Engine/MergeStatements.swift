/// The prepared statements that merge changes into one synchronized table, kept per table so
/// the hot path looks them up by position instead of by SQL text.
///
/// Not `Sendable`: owns statements of one connection.
final class MergeStatements {
    private unowned let table: SyncTable
    private var loadStatement: Statement?
    private var deleteStatement: Statement?
    private var dropStatement: Statement?
    private var readStatements: [Int: Statement] = [:]
    private var upsertStatements: [[Int]: Statement] = [:]
    private var storeStatements: [Int: Statement] = [:]

    init(table: SyncTable) {
        self.table = table
    }

    private func cached(_ slot: inout Statement?, _ connection: Connection, _ sql: () -> String) throws(CloudSyncError) -> Statement {
        if let statement = slot {
            statement.reset()
            return statement
        }
        let statement = try connection.prepare(sql())
        slot = statement
        return statement
    }

    private func cached<Key: Hashable>(_ cache: inout [Key: Statement], _ key: Key, _ connection: Connection, _ sql: () -> String) throws(CloudSyncError) -> Statement {
        if let statement = cache[key] {
            statement.reset()
            return statement
        }
        let statement = try connection.prepare(sql())
        cache[key] = statement
        return statement
    }

    /// All clocks of one row: `?1` = key blob.
    func load(_ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&loadStatement, connection) {
            "SELECT col_name, col_version, db_version, site_id, seq FROM \(table.clockTable) WHERE pk = ?1"
        }
    }

    /// Deletes the row: key values bound from `?1`.
    func deleteRow(_ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&deleteStatement, connection) { "DELETE FROM \(table.quotedName) WHERE \(table.keyMatch)" }
    }

    /// Drops a row's clocks but the sentinel: `?1` = key blob.
    func dropClocks(_ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&dropStatement, connection) {
            "DELETE FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(SQLText.literal(Change.sentinelColumn))"
        }
    }

    /// Reads one column of the row: key values bound from `?1`.
    func read(_ slot: Int, _ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&readStatements, slot, connection) {
            "SELECT \(SQLText.identifier(table.columns[slot])) FROM \(table.quotedName) WHERE \(table.keyMatch)"
        }
    }

    /// Inserts the row if missing and sets the `written` columns: key values, then the values.
    func upsertRow(_ written: [Int], _ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&upsertStatements, written, connection) {
            let names = table.primaryKey + written.map { table.columns[$0] }
            let placeholders = (1...names.count).map { "?\($0)" }.joined(separator: ", ")
            let action = written.isEmpty
                ? "NOTHING"
                : "UPDATE SET " + written.map { "\(SQLText.identifier(table.columns[$0])) = excluded.\(SQLText.identifier(table.columns[$0]))" }.joined(separator: ", ")
            return "INSERT INTO \(table.quotedName)(\(names.map(SQLText.identifier).joined(separator: ", "))) VALUES (\(placeholders)) ON CONFLICT(\(table.quotedKeyList)) DO \(action)"
        }
    }

    /// Stores `count` clocks of one row: `?1` = key blob, then (col_name, col_version,
    /// db_version, site_id, seq) for each.
    func storeClocks(_ count: Int, _ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&storeStatements, count, connection) {
            let rows = (0..<count).map { row in
                let base = row * 5 + 2
                return "(?1, ?\(base), ?\(base + 1), ?\(base + 2), ?\(base + 3), ?\(base + 4))"
            }.joined(separator: ", ")
            return "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES \(rows) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = excluded.col_version, db_version = excluded.db_version, site_id = excluded.site_id, seq = excluded.seq"
        }
    }
}
