/// Recording local writes: the work behind the triggers of synchronized tables.
extension SyncContext {
    private static let rip = SQLText.literal(Change.sentinelColumn)

    /// Table `name` as a trigger sees it; reloads metadata if the trigger passes a different
    /// number of values than the cached shape expects (another connection altered the table).
    func triggerTable(_ name: String, expectedArguments: (SyncTable) -> Int, actual: Int) throws(CloudSyncError) -> SyncTable {
        if let table = try table(name), expectedArguments(table) == actual { return table }
        invalidateTables()
        let table = try requireTable(name)
        guard expectedArguments(table) == actual else {
            throw CloudSyncError(.misuse, "the sync triggers of table \(name) do not match its columns: call cloudsync_begin_alter / cloudsync_commit_alter around ALTER TABLE")
        }
        return table
    }

    /// `cloudsync_insert(table, key...)`: a row was inserted.
    func triggerInsert(_ arguments: SQLArguments) throws(CloudSyncError) {
        let name = try arguments.requireString(0, "table", of: "cloudsync_insert")
        let table = try triggerTable(name, expectedArguments: { 1 + $0.primaryKey.count }, actual: arguments.count)
        try recordInsert(table, key: arguments.encodeKey(1..<arguments.count))
    }

    func recordInsert(_ table: SyncTable, key: [UInt8]) throws(CloudSyncError) {
        let (version, seq) = try nextLocalChange()
        if table.columns.isEmpty {
            let upsert = try table.statement("insert.sentinel", on: connection) {
                "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, \(Self.rip), 1, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq WHERE col_version % 2 = 0"
            }
            _ = upsert.bindBlob(key, at: 1)
            upsert.bind(version, at: 2)
            upsert.bind(seq, at: 3)
            try upsert.run()
            if connection.changes == 0 { clock.returnSeq() }
            return
        }
        // A key that was deleted comes back to life: its sentinel moves to the next odd length.
        let revive = try table.statement("insert.revive", on: connection) {
            "UPDATE \(table.clockTable) SET col_version = col_version + 1, db_version = ?2, site_id = 0, seq = ?3 WHERE pk = ?1 AND col_name = \(Self.rip) AND col_version % 2 = 0"
        }
        _ = revive.bindBlob(key, at: 1)
        revive.bind(version, at: 2)
        revive.bind(seq, at: 3)
        try revive.run()
        let firstSeq = connection.changes == 0 ? seq : clock.takeSeq()
        for _ in 1..<table.columns.count { _ = clock.takeSeq() }
        let columns = try table.statement("insert.columns", on: connection) {
            let rows = table.columns.enumerated()
                .map { "(?1, \(SQLText.literal($0.element)), 1, ?2, 0, ?3 + \($0.offset))" }
                .joined(separator: ", ")
            return "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES \(rows) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq"
        }
        _ = columns.bindBlob(key, at: 1)
        columns.bind(version, at: 2)
        columns.bind(firstSeq, at: 3)
        try columns.run()
    }

    /// `cloudsync_update(table, old key..., new key..., old c1, new c1, ...)`: a row changed.
    func triggerUpdate(_ arguments: SQLArguments) throws(CloudSyncError) {
        let name = try arguments.requireString(0, "table", of: "cloudsync_update")
        let table = try triggerTable(name, expectedArguments: { 1 + 2 * $0.primaryKey.count + 2 * $0.columns.count }, actual: arguments.count)
        let keyCount = table.primaryKey.count
        let oldKey = arguments.encodeKey(1..<(1 + keyCount))
        let newKey = arguments.encodeKey((1 + keyCount)..<(1 + 2 * keyCount))
        let firstColumn = 1 + 2 * keyCount
        if oldKey != newKey {
            try recordKeyChange(table, from: oldKey, to: newKey) { index in
                !arguments.same(firstColumn + 2 * index, firstColumn + 2 * index + 1)
            }
            return
        }
        for index in table.columns.indices where !arguments.same(firstColumn + 2 * index, firstColumn + 2 * index + 1) {
            let (version, seq) = try nextLocalChange()
            let bump = try table.statement("update.\(index)", on: connection) {
                "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, \(SQLText.literal(table.columns[index])), 1, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1, db_version = excluded.db_version, site_id = 0, seq = excluded.seq"
            }
            _ = bump.bindBlob(newKey, at: 1)
            bump.bind(version, at: 2)
            bump.bind(seq, at: 3)
            try bump.run()
        }
    }

    /// A primary-key change: the old key is deleted and the new key inserted, carrying the old
    /// key's column clocks (bumped where the value changed too).
    private func recordKeyChange(_ table: SyncTable, from oldKey: [UInt8], to newKey: [UInt8], valueChanged: (Int) -> Bool) throws(CloudSyncError) {
        let oldClocks = try connection.rows(
            "SELECT col_name, col_version FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(Self.rip)",
            [.blob(oldKey)])
        var carried: [String: Int64] = [:]
        for row in oldClocks {
            if let column = row[0].stringValue { carried[column] = row[1].integerValue ?? 0 }
        }
        try recordDelete(table, key: oldKey)
        let (version, seq) = try nextLocalChange()
        let sentinel = try table.statement("keychange.sentinel", on: connection) {
            "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, \(Self.rip), 1, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1 + (col_version % 2), db_version = excluded.db_version, site_id = 0, seq = excluded.seq"
        }
        _ = sentinel.bindBlob(newKey, at: 1)
        sentinel.bind(version, at: 2)
        sentinel.bind(seq, at: 3)
        try sentinel.run()
        let column = try table.statement("keychange.column", on: connection) {
            "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, ?4, ?5, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = max(col_version + 1, excluded.col_version), db_version = excluded.db_version, site_id = 0, seq = excluded.seq"
        }
        for (index, name) in table.columns.enumerated() {
            let columnSeq = clock.takeSeq()
            column.reset()
            _ = column.bindBlob(newKey, at: 1)
            column.bind(version, at: 2)
            column.bind(columnSeq, at: 3)
            column.bind(name, at: 4)
            column.bind(max(1, (carried[name] ?? 0) + (valueChanged(index) ? 1 : 0)), at: 5)
            try column.run()
        }
    }

    /// `cloudsync_delete(table, key...)`: a row was deleted.
    func triggerDelete(_ arguments: SQLArguments) throws(CloudSyncError) {
        let name = try arguments.requireString(0, "table", of: "cloudsync_delete")
        let table = try triggerTable(name, expectedArguments: { 1 + $0.primaryKey.count }, actual: arguments.count)
        try recordDelete(table, key: arguments.encodeKey(1..<arguments.count))
    }

    func recordDelete(_ table: SyncTable, key: [UInt8]) throws(CloudSyncError) {
        let (version, seq) = try nextLocalChange()
        // The sentinel moves to the next even causal length: +1 from alive, +2 if it was
        // somehow already even.
        let sentinel = try table.statement("delete.sentinel", on: connection) {
            "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, \(Self.rip), 2, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 2 - (col_version % 2), db_version = excluded.db_version, site_id = 0, seq = excluded.seq"
        }
        _ = sentinel.bindBlob(key, at: 1)
        sentinel.bind(version, at: 2)
        sentinel.bind(seq, at: 3)
        try sentinel.run()
        if table.algorithm == .addWins {
            try restampRetainedClocks(table, key: key, version: version)
            return
        }
        let drop = try table.statement("delete.others", on: connection) {
            "DELETE FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(Self.rip)"
        }
        _ = drop.bindBlob(key, at: 1)
        try drop.run()
    }

    /// Add-wins keeps a deleted row's cell clocks (what this replica had seen when it deleted)
    /// and sends them along with the delete, stamped with the delete's version.
    private func restampRetainedClocks(_ table: SyncTable, key: [UInt8], version: Int64) throws(CloudSyncError) {
        let columns = try connection.rows(
            "SELECT col_name FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(Self.rip) ORDER BY col_name",
            [.blob(key)]).compactMap { $0.first?.stringValue }
        let restamp = try table.statement("delete.restamp", on: connection) {
            "UPDATE \(table.clockTable) SET db_version = ?2, seq = ?3, site_id = 0 WHERE pk = ?1 AND col_name = ?4"
        }
        for column in columns {
            restamp.reset()
            _ = restamp.bindBlob(key, at: 1)
            restamp.bind(version, at: 2)
            restamp.bind(clock.takeSeq(), at: 3)
            restamp.bind(column, at: 4)
            try restamp.run()
        }
    }
}
