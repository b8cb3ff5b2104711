/// The prepared statements that merge changes into one synchronized table, kept per table so
/// the hot path looks them up by position instead of by SQL text.
///
/// Not `Sendable`: owns statements of one connection.
final class MergeStatements {
    /// Most rows merged as one batch (and most rows per multi-row statement).
    static let batchSize = 128

    private unowned let table: SyncTable
    private var loadStatements: [Int: Statement] = [:]
    private var upsertRowsStatements: [[Int]: [Int: Statement]] = [:]
    private var storeRowsStatements: [Int: Statement] = [:]
    private var deleteStatement: Statement?
    private var dropStatement: Statement?
    private var dropBlocksStatement: Statement?
    private var readStatements: [Int: Statement] = [:]

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

    /// The stored clocks of the rows `keys` (key blobs), by key and slot. Clocks of columns
    /// the table no longer has (dropped) are not part of a row.
    func loadClocks(of keys: [[UInt8]], _ connection: Connection) throws(CloudSyncError) -> [KeyBlob: [Int: CellClock]] {
        var result: [KeyBlob: [Int: CellClock]] = [:]
        var start = 0
        while start < keys.count {
            let count = min(Self.batchSize, keys.count - start)
            let load = try cached(&loadStatements, count, connection) {
                let list = (1...count).map { "?\($0)" }.joined(separator: ", ")
                return "SELECT pk, col_name, col_version, db_version, site_id, seq FROM \(table.clockTable) WHERE pk IN (\(list))"
            }
            for (offset, key) in keys[start..<(start + count)].enumerated() {
                _ = load.bindBlob(key, at: Int32(offset + 1))
            }
            while try load.step() {
                guard let slot = table.slot(load.string(at: 1) ?? "") else {
                    // A block clock: the row is known here even without a slot clock.
                    if !table.blockColumns.isEmpty, result[KeyBlob(load.blob(at: 0))] == nil { result[KeyBlob(load.blob(at: 0))] = [:] }
                    continue
                }
                result[KeyBlob(load.blob(at: 0)), default: [:]][slot] = CellClock(
                    colVersion: load.int64(at: 2), dbVersion: load.int64(at: 3), site: load.int64(at: 4), seq: load.int64(at: 5))
            }
            load.reset()
            start += count
        }
        return result
    }

    /// Inserts `count` rows if missing and sets the columns in `slots`: for each row, its key
    /// values then its values.
    func upsertRows(_ slots: [Int], count: Int, _ connection: Connection) throws(CloudSyncError) -> Statement {
        if let statement = upsertRowsStatements[slots]?[count] {
            statement.reset()
            return statement
        }
        let names = table.primaryKey + slots.map { table.columns[$0] }
        var parameter = 0
        let rows = (0..<count).map { _ in
            "(" + names.map { _ in parameter += 1; return "?\(parameter)" }.joined(separator: ", ") + ")"
        }.joined(separator: ", ")
        let action = slots.isEmpty
            ? "NOTHING"
            : "UPDATE SET " + slots.map { "\(SQLText.identifier(table.columns[$0])) = excluded.\(SQLText.identifier(table.columns[$0]))" }.joined(separator: ", ")
        let statement = try connection.prepare("INSERT INTO \(table.quotedName)(\(names.map(SQLText.identifier).joined(separator: ", "))) VALUES \(rows) ON CONFLICT(\(table.quotedKeyList)) DO \(action)")
        upsertRowsStatements[slots, default: [:]][count] = statement
        return statement
    }

    /// Stores `count` clocks, each as (pk, col_name, col_version, db_version, site_id, seq).
    func storeClockRows(_ count: Int, _ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&storeRowsStatements, count, connection) {
            let rows = (0..<count).map { row in
                let base = row * 6 + 1
                return "(?\(base), ?\(base + 1), ?\(base + 2), ?\(base + 3), ?\(base + 4), ?\(base + 5))"
            }.joined(separator: ", ")
            return "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES \(rows) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = excluded.col_version, db_version = excluded.db_version, site_id = excluded.site_id, seq = excluded.seq"
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

    /// Drops a row's block clocks (names holding 0x1F): `?1` = key blob.
    func dropBlockClocks(_ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&dropBlocksStatement, connection) {
            "DELETE FROM \(table.clockTable) WHERE pk = ?1 AND instr(col_name, char(31)) > 0"
        }
    }

    /// Reads one column of the row: key values bound from `?1`.
    func read(_ slot: Int, _ connection: Connection) throws(CloudSyncError) -> Statement {
        try cached(&readStatements, slot, connection) {
            "SELECT \(SQLText.identifier(table.columns[slot])) FROM \(table.quotedName) WHERE \(table.keyMatch)"
        }
    }
}
