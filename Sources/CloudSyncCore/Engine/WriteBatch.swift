/// What merging one row decided to write.
struct RowEffects {
    var key: [SQLValue]
    var keyBlob: [UInt8]
    var deletesRow: Bool
    var ensuresRow: Bool
    /// Column slots and their new values.
    var writes: [(slot: Int, value: SQLValue)]
    var dropsOtherClocks: Bool
    /// The row came back in a new causal length (its block clocks of the old life go).
    var resurrects: Bool = false
    /// Clocks to store, by column name (or the sentinel's).
    var clocks: [(column: String, clock: CellClock)]
}

/// The writes of many merged rows of one table, made with few statements: row deletes, then
/// row upserts grouped by the set of columns they write (multi-row), then clock drops, then
/// clock upserts (multi-row). Each row's own writes keep their order; rows are distinct.
struct WriteBatch {
    let table: SyncTable
    private var rows: [RowEffects] = []

    init(table: SyncTable) {
        self.table = table
    }

    mutating func add(_ effects: RowEffects) { rows.append(effects) }

    func write(_ connection: Connection) throws(CloudSyncError) {
        guard !rows.isEmpty else { return }
        let merge = table.merge
        for row in rows where row.deletesRow {
            let delete = try merge.deleteRow(connection)
            try delete.bind(row.key)
            try delete.run()
        }
        var upserts: [[Int]: [RowEffects]] = [:]
        for row in rows where row.ensuresRow {
            upserts[row.writes.map(\.slot), default: []].append(row)
        }
        for (slots, group) in upserts.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            try forEachChunk(group) { (chunk: ArraySlice<RowEffects>) throws(CloudSyncError) in
                let upsert = try merge.upsertRows(slots, count: chunk.count, connection)
                var index: Int32 = 1
                for row in chunk {
                    try upsert.bind(row.key, from: index)
                    index += Int32(row.key.count)
                    for (_, value) in row.writes {
                        try upsert.bind(value, at: index)
                        index += 1
                    }
                }
                try upsert.run()
            }
        }
        for row in rows where row.dropsOtherClocks {
            let drop = try merge.dropClocks(connection)
            _ = drop.bindBlob(row.keyBlob, at: 1)
            try drop.run()
        }
        if !table.blockColumns.isEmpty {
            for row in rows where row.resurrects {
                let drop = try merge.dropBlockClocks(connection)
                _ = drop.bindBlob(row.keyBlob, at: 1)
                try drop.run()
            }
        }
        let clocks = rows.flatMap { row in row.clocks.map { (row.keyBlob, $0.column, $0.clock) } }
        try forEachChunk(clocks[...]) { (chunk: ArraySlice<([UInt8], String, CellClock)>) throws(CloudSyncError) in
            let store = try merge.storeClockRows(chunk.count, connection)
            var index: Int32 = 1
            for (key, column, clock) in chunk {
                _ = store.bindBlob(key, at: index)
                store.bind(column, at: index + 1)
                store.bind(clock.colVersion, at: index + 2)
                store.bind(clock.dbVersion, at: index + 3)
                store.bind(clock.site, at: index + 4)
                store.bind(clock.seq, at: index + 5)
                index += 6
            }
            try store.run()
        }
    }

    /// Splits `items` into chunks whose sizes are powers of two (at most `MergeStatements.batchSize`),
    /// so that a handful of statement shapes serve every batch.
    private func forEachChunk<T>(_ items: some Collection<T>, _ body: (ArraySlice<T>) throws(CloudSyncError) -> Void) throws(CloudSyncError) {
        let all = Array(items)
        var start = 0
        while start < all.count {
            var size = MergeStatements.batchSize
            while size > all.count - start { size /= 2 }
            try body(all[start..<(start + size)])
            start += size
        }
    }
}
