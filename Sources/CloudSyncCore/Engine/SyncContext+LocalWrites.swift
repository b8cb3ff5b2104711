/// Recording local writes. The triggers (`TriggerSet`) do the common work in SQL; this file
/// holds their helper functions and the rarer paths: primary-key changes and rows that
/// existed before a table was synchronized.
extension SyncContext {
    private static let rip = SQLText.literal(Change.sentinelColumn)

    /// `cloudsync_seq()`: the next `seq` of the transaction in progress.
    func takeLocalSeq() throws(CloudSyncError) -> Int64 {
        _ = try transactionVersion()
        return clock.takeSeq()
    }

    /// Records clocks for rows that existed before the table was synchronized, so they sync too.
    func backfill(_ table: SyncTable) throws(CloudSyncError) {
        let triggers = TriggerSet(table: table)
        let key = triggers.keyExpression("NEW")
        let statements = triggers.insertStatements(
            row: "NEW", source: "\(table.quotedName) AS NEW",
            filter: (["NOT EXISTS (SELECT 1 FROM \(table.clockTable) WHERE pk = \(key))"] + [triggers.filterCondition("NEW")].compactMap { $0 })
                .joined(separator: " AND "))
        try connection.execute(statements.record)
    }

    /// `cloudsync_update_key(table, old key..., new key..., old c1, new c1, ...)`: an UPDATE
    /// changed a row's primary key. The old key is deleted and the new key inserted, carrying
    /// the old key's column versions (plus one where the value changed too).
    func triggerKeyChange(_ arguments: SQLArguments) throws(CloudSyncError) {
        let name = try arguments.requireString(0, "table", of: "cloudsync_update_key")
        guard let table = try table(name), arguments.count == 1 + 2 * table.primaryKey.count + 2 * table.columns.count else {
            throw CloudSyncError(.misuse, "the sync triggers of table \(name) do not match its columns: call cloudsync_begin_alter / cloudsync_commit_alter around ALTER TABLE")
        }
        let keyCount = table.primaryKey.count
        let oldKey = arguments.encodeKey(1..<(1 + keyCount))
        let newKey = arguments.encodeKey((1 + keyCount)..<(1 + 2 * keyCount))
        let firstColumn = 1 + 2 * keyCount

        var carried: [String: Int64] = [:]
        for row in try connection.rows("SELECT col_name, col_version FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(Self.rip)", [.blob(oldKey)]) {
            if let column = row[0].stringValue { carried[column] = row[1].integerValue ?? 0 }
        }
        for sql in TriggerSet(table: table).deleteStatements(key: "?1") {
            let statement = try connection.prepare(sql)
            _ = statement.bindBlob(oldKey, at: 1)
            try statement.run()
        }
        let version = try transactionVersion()
        let sentinel = try connection.prepare(
            "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, \(Self.rip), 1, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1 + (col_version % 2), db_version = excluded.db_version, site_id = 0, seq = excluded.seq")
        _ = sentinel.bindBlob(newKey, at: 1)
        sentinel.bind(version, at: 2)
        sentinel.bind(clock.takeSeq(), at: 3)
        try sentinel.run()
        let column = try connection.prepare(
            "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, ?4, ?5, ?2, 0, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = max(col_version + 1, excluded.col_version), db_version = excluded.db_version, site_id = 0, seq = excluded.seq")
        for (index, name) in table.columns.enumerated() {
            if table.blockColumns[name] != nil {
                // The new key's text starts over as new blocks.
                try recordBlocks(table, column: name, pk: newKey, value: arguments.value(firstColumn + 2 * index + 1), isInsert: true)
                continue
            }
            let changed = !arguments.same(firstColumn + 2 * index, firstColumn + 2 * index + 1)
            column.reset()
            _ = column.bindBlob(newKey, at: 1)
            column.bind(version, at: 2)
            column.bind(clock.takeSeq(), at: 3)
            column.bind(name, at: 4)
            column.bind(max(1, (carried[name] ?? 0) + (changed ? 1 : 0)), at: 5)
            try column.run()
        }
    }
}
