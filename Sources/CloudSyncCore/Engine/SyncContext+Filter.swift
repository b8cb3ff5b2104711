/// Client-side row filters (`cloudsync_set_filter`, sql-api-v2.md §1): only rows satisfying a
/// table's filter are tracked, so a device sends only the rows it means to share.
extension SyncContext {
    static let filterKey = "filter"

    /// The filter expression stored for `table`, if any.
    func rowFilter(of table: String) throws(CloudSyncError) -> String? {
        try connection.scalar(
            "SELECT value FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = '*' AND key = ?2",
            [.string(table), .string(Self.filterKey)])?.stringValue
    }

    /// Tracks only the rows of `table` for which `expression` (an SQL condition over the
    /// table's bare column names) is true: evaluated on the new row for inserts and updates, on
    /// the old row for deletes.
    ///
    /// Existing rows that do not satisfy it stop being tracked (their clocks are dropped; the
    /// clocks of deleted rows stay, so deletions already made still sync); rows that satisfy it
    /// and were not tracked start being tracked. An expression that does not compile against the
    /// table is refused and nothing changes.
    public func setFilter(table name: String, expression: String) throws(CloudSyncError) {
        let table = try requireTable(name)
        let trimmed = expression.trimmed
        guard !trimmed.isEmpty else {
            throw CloudSyncError(.misuse, "cloudsync_set_filter: the filter of \(table.name) is empty; call cloudsync_clear_filter('\(table.name)') to track every row")
        }
        try validateFilter(trimmed, of: table)
        try connection.withSavepoint("cloudsync_set_filter") { () throws(CloudSyncError) in
            try connection.run(
                "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, '*', ?2, ?3)",
                [.string(table.name), .string(Self.filterKey), .string(trimmed)])
            let filtered = try reinstallTriggers(table.name)
            let triggers = TriggerSet(table: filtered)
            let key = triggers.keyExpression("t")
            try connection.execute("""
                DELETE FROM \(filtered.clockTable) WHERE pk IN (
                  SELECT \(key) FROM \(filtered.quotedName) AS t WHERE NOT \(triggers.filterCondition("t")!))
                """)
            try backfill(filtered)
        }
    }

    /// Tracks every row of `table` again; rows written while they were filtered out start
    /// being tracked as they are now.
    public func clearFilter(table name: String) throws(CloudSyncError) {
        let table = try requireTable(name)
        try connection.withSavepoint("cloudsync_clear_filter") { () throws(CloudSyncError) in
            try connection.run(
                "DELETE FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = '*' AND key = ?2",
                [.string(table.name), .string(Self.filterKey)])
            try backfill(try reinstallTriggers(table.name))
        }
    }

    /// Reloads `table` with its current settings and installs its triggers again.
    private func reinstallTriggers(_ table: String) throws(CloudSyncError) -> SyncTable {
        invalidateTables()
        let reloaded = try requireTable(table)
        try TriggerSet(table: reloaded).install(on: connection)
        return reloaded
    }

    /// Compiles the filter exactly as the triggers will use it, as one whole statement: an
    /// unknown column, a syntax error or a second statement smuggled into the text is refused
    /// here rather than breaking every later write to the table.
    private func validateFilter(_ expression: String, of table: SyncTable) throws(CloudSyncError) {
        let condition = TriggerSet.filterCondition(expression, row: "t", columns: table.primaryKey + table.columns)
        do throws(CloudSyncError) {
            _ = try connection.prepareSingle("SELECT \(condition) FROM \(table.quotedName) AS t")
        } catch {
            throw CloudSyncError(.misuse, "cloudsync_set_filter: the filter '\(expression)' is not a valid condition on the columns of \(table.name): \(error.message)")
        }
    }
}
