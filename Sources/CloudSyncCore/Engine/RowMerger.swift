/// Merges runs of incoming changes into one synchronized table: loads a row's clocks, lets
/// `MergeRules` and `RowMergeState` decide, then writes the row and its clocks in a few
/// statements.
final class RowMerger {
    private let connection: Connection
    private let table: SyncTable
    private let key: [SQLValue]
    private let keyBlob: [UInt8]
    private var state: RowMergeState

    init(table: SyncTable, keyBlob: [UInt8], connection: Connection) throws(CloudSyncError) {
        self.connection = connection
        self.table = table
        self.keyBlob = keyBlob
        let key: [SQLValue]
        do throws(CloudSyncError) {
            key = try PrimaryKeyCodec.decode(keyBlob)
        } catch {
            throw CloudSyncError(.malformedPayload, "a change for table \(table.name) has an invalid primary key: \(error.message)")
        }
        guard key.count == table.primaryKey.count else {
            throw CloudSyncError(.malformedPayload, "a change for table \(table.name) has \(key.count) primary key values; the table has \(table.primaryKey.count)")
        }
        self.key = key
        let load = try table.statement("merge.load", on: connection) {
            "SELECT col_name, col_version, db_version, site_id, seq FROM \(table.clockTable) WHERE pk = ?1"
        }
        _ = load.bindBlob(keyBlob, at: 1)
        var clocks: [String: CellClock] = [:]
        while try load.step() {
            clocks[load.string(at: 0) ?? ""] = CellClock(colVersion: load.int64(at: 1), dbVersion: load.int64(at: 2), site: load.int64(at: 3), seq: load.int64(at: 4))
        }
        load.reset()
        self.state = RowMergeState(clocks: clocks)
    }

    /// Merges one change whose stored clock will be `clock`; `localClock` stamps a local
    /// change the merge makes (an add-wins revival).
    func merge(_ change: Change, clock: CellClock, localClock: () -> CellClock) throws(CloudSyncError) {
        let isSentinel = change.column == Change.sentinelColumn
        let decision = try MergeRules.decide(
            algorithm: table.algorithm,
            isSentinel: isSentinel,
            causalLength: change.causalLength,
            colVersion: change.colVersion,
            localCausalLength: state.causalLength,
            hasLocalSentinel: state.clocks[Change.sentinelColumn] != nil,
            localColVersion: isSentinel ? nil : state.clocks[change.column]?.colVersion,
            incomingValueIsGreater: { () throws(CloudSyncError) in
                ValueOrdering.isGreater(change.value, than: try localValue(change.column))
            })
        // A revival's causal length is the one after the local delete.
        let length = decision == .revive ? state.causalLength : change.causalLength
        state.apply(decision, column: change.column, value: change.value, causalLength: length, clock: clock,
                    keepsDeletedClocks: table.algorithm == .addWins, localClock: localClock)
    }

    private func localValue(_ column: String) throws(CloudSyncError) -> SQLValue {
        if let pending = state.pendingValue(column) { return pending }
        if state.hasStructuralChanges { try flush() }
        let read = try table.statement("merge.value.\(column)", on: connection) {
            "SELECT \(SQLText.identifier(column)) FROM \(table.quotedName) WHERE \(table.keyMatch)"
        }
        try read.bind(key)
        defer { read.reset() }
        return try read.step() ? read.value(at: 0) : .null
    }

    /// Writes the pending effects.
    func flush() throws(CloudSyncError) {
        guard state.hasEffects else { return }
        if state.deletesRow {
            let delete = try table.statement("merge.delete", on: connection) {
                "DELETE FROM \(table.quotedName) WHERE \(table.keyMatch)"
            }
            try delete.bind(key)
            try delete.run()
        }
        if state.ensuresRow {
            try upsertRow()
        }
        if state.dropsOtherClocks {
            let drop = try table.statement("merge.dropclocks", on: connection) {
                "DELETE FROM \(table.clockTable) WHERE pk = ?1 AND col_name != \(SQLText.literal(Change.sentinelColumn))"
            }
            _ = drop.bindBlob(keyBlob, at: 1)
            try drop.run()
        }
        try storeClocks()
        state.markFlushed()
    }

    private func upsertRow() throws(CloudSyncError) {
        let written = table.columns.indices.filter { state.writes[table.columns[$0]] != nil }
        let cacheKey = "merge.upsert." + written.map(String.init).joined(separator: ",")
        let upsert = try table.statement(cacheKey, on: connection) {
            let names = table.primaryKey + written.map { table.columns[$0] }
            let placeholders = (1...names.count).map { "?\($0)" }.joined(separator: ", ")
            var sql = "INSERT INTO \(table.quotedName)(\(names.map(SQLText.identifier).joined(separator: ", "))) VALUES (\(placeholders)) ON CONFLICT(\(table.quotedKeyList)) DO "
            if written.isEmpty {
                sql += "NOTHING"
            } else {
                sql += "UPDATE SET " + written.map { "\(SQLText.identifier(table.columns[$0])) = excluded.\(SQLText.identifier(table.columns[$0]))" }.joined(separator: ", ")
            }
            return sql
        }
        try upsert.bind(key)
        var index = Int32(key.count) + 1
        for column in written {
            try upsert.bind(state.writes[table.columns[column]]!, at: index)
            index += 1
        }
        try upsert.run()
    }

    private func storeClocks() throws(CloudSyncError) {
        let dirty = state.dirtyClocks.sorted()
        guard !dirty.isEmpty else { return }
        let store = try table.statement("merge.clocks.\(dirty.count)", on: connection) {
            let rows = (0..<dirty.count).map { row in
                let base = row * 5 + 2
                return "(?1, ?\(base), ?\(base + 1), ?\(base + 2), ?\(base + 3), ?\(base + 4))"
            }.joined(separator: ", ")
            return "INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES \(rows) ON CONFLICT(pk, col_name) DO UPDATE SET col_version = excluded.col_version, db_version = excluded.db_version, site_id = excluded.site_id, seq = excluded.seq"
        }
        _ = store.bindBlob(keyBlob, at: 1)
        for (row, column) in dirty.enumerated() {
            let clock = state.clocks[column]!
            let base = Int32(row * 5 + 2)
            store.bind(column, at: base)
            store.bind(clock.colVersion, at: base + 1)
            store.bind(clock.dbVersion, at: base + 2)
            store.bind(clock.site, at: base + 3)
            store.bind(clock.seq, at: base + 4)
        }
        try store.run()
    }
}
