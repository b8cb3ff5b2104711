/// Block-level text columns (block-text.md): settings, local writes as block changes,
/// materialization of the base column, and merging of received block changes.
extension SyncContext {
    package static let blockSeparator: UInt8 = 0x1F
    static let defaultDelimiter: [UInt8] = [0x0A]

    // MARK: Settings

    /// The block columns of `table` and their delimiters, from `cloudsync_table_settings`.
    func loadBlockColumns(_ table: String, columns: [String]) throws(CloudSyncError) -> [String: [UInt8]] {
        let rows = try connection.rows(
            "SELECT col_name, key, value FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name != '*' AND key IN ('algo', 'delimiter')",
            [.string(table)])
        guard !rows.isEmpty else { return [:] }
        func declared(_ name: String) -> String? {
            columns.first { $0 == name } ?? columns.first { $0.lowercased() == name.lowercased() }
        }
        var result: [String: [UInt8]] = [:]
        for row in rows where row[1].stringValue == "algo" && row[2].stringValue?.lowercased() == "block" {
            if let name = row[0].stringValue.flatMap(declared) { result[name] = Self.defaultDelimiter }
        }
        for row in rows where row[1].stringValue == "delimiter" {
            guard let name = row[0].stringValue.flatMap(declared), result[name] != nil else { continue }
            switch row[2] {
            case .text(let bytes), .blob(let bytes): result[name] = bytes
            default: break
            }
        }
        return result
    }

    /// `cloudsync_set_column(table, column, key, value)`. Key `algo` = `block` switches the
    /// column to block mode and converts the existing rows; `delimiter` sets its delimiter.
    /// Other keys are stored only.
    public func setColumnSetting(table name: String, column: String, _ key: String, _ value: SQLValue) throws(CloudSyncError) {
        let table = try requireTable(name)
        guard let declared = (table.primaryKey + table.columns).first(where: { $0.lowercased() == column.lowercased() }) else {
            throw CloudSyncError(.unknownColumn, "cloudsync_set_column: column '\(column)' not found in table '\(table.name)'")
        }
        try connection.withSavepoint("cloudsync_set_column") { () throws(CloudSyncError) in
            switch key.lowercased() {
            case "algo":
                guard value.stringValue?.lowercased() == "block" else {
                    throw CloudSyncError(.misuse, "cloudsync_set_column: unknown column algorithm \(value); the only one is 'block' (line-by-line text merge)")
                }
                try enableBlocks(table, column: declared)
            case "delimiter":
                guard case .text(let bytes) = value else {
                    throw CloudSyncError(.misuse, "cloudsync_set_column: the delimiter must be TEXT (found \(value)); the default is a line feed, char(10)")
                }
                try storeColumnSetting(table.name, declared, "delimiter", .text(bytes))
                invalidateTables()
            default:
                try storeColumnSetting(table.name, declared, key, value)
            }
        }
    }

    /// Every column in block mode, with its delimiter, sorted by table and column, as stored
    /// now (another connection may have changed them: a server's reader after `column set`).
    public func blockColumnSettings() throws(CloudSyncError) -> [(table: String, column: String, delimiter: String)] {
        invalidateTables()
        var result: [(table: String, column: String, delimiter: String)] = []
        for name in try synchronizedTableNames {
            guard let table = try table(name) else { continue }
            for (column, delimiter) in table.blockColumns.sorted(by: { $0.key < $1.key }) {
                result.append((table.name, column, String(decoding: delimiter, as: UTF8.self)))
            }
        }
        return result
    }

    /// Forgets the tables' metadata when another connection changed the schema (a column
    /// switched to block mode by another process), so the feed and merges see it.
    func refreshTablesIfSchemaChanged() throws(CloudSyncError) {
        let cookie = try connection.scalar("PRAGMA schema_version")?.integerValue ?? 0
        if cookie != schemaCookie {
            schemaCookie = cookie
            invalidateTables()
        }
    }

    /// Forgets the blocks of a column removed from the table (`cloudsync_commit_alter`): its
    /// block clocks, texts and block-mode settings.
    func dropBlocks(of table: SyncTable, column: String) throws(CloudSyncError) {
        let range: [SQLValue] = [.text(Self.blockPrefix(column)), .text(Self.blockPrefixEnd(column))]
        try connection.run("DELETE FROM \(table.clockTable) WHERE col_name >= ?1 AND col_name < ?2", range)
        try connection.run("DELETE FROM \(table.blocksTable) WHERE col_name >= ?1 AND col_name < ?2", range)
        try connection.run(
            "DELETE FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = ?2 AND key IN ('algo', 'delimiter')",
            [.string(table.name), .string(column)])
    }

    private func storeColumnSetting(_ table: String, _ column: String, _ key: String, _ value: SQLValue) throws(CloudSyncError) {
        try connection.run(
            "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, ?2, ?3, ?4)",
            [.string(table), .string(column), .string(key), value])
    }

    private func enableBlocks(_ table: SyncTable, column: String) throws(CloudSyncError) {
        if table.primaryKey.contains(column) {
            throw CloudSyncError(.misuse, "cloudsync_set_column: column \(column) is part of the primary key of \(table.name); only a non-key TEXT column can merge by blocks")
        }
        if table.blockColumns[column] != nil { return }
        let type = try connection.scalar("SELECT type FROM pragma_table_info(?1) WHERE name = ?2", [.string(table.name), .string(column)])?.stringValue ?? ""
        guard Self.isTextType(type) else {
            throw CloudSyncError(.unsupportedSchema, "cloudsync_set_column: column \(column) of \(table.name) is declared \(type.isEmpty ? "without a type" : type), not TEXT; only a TEXT column can merge by blocks")
        }
        try storeColumnSetting(table.name, column, "algo", .string("block"))
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS \(table.blocksTable) (pk BLOB NOT NULL, col_name TEXT NOT NULL, col_value BLOB, PRIMARY KEY (pk, col_name)) WITHOUT ROWID")
        invalidateTables()
        let updated = try requireTable(table.name)
        try TriggerSet(table: updated).install(on: connection)
        try convertExistingRows(updated, column: column)
    }

    /// Whether a declared type is text by the 1.x structural classes (wire-format §10).
    static func isTextType(_ declared: String) -> Bool { structuralClass(declared) == "text" }

    /// Writes blocks `a0, a1, …` for every row whose column has an alive plain clock and no
    /// blocks yet (as 1.0.13 does), under one new db_version. The plain clock stays.
    private func convertExistingRows(_ table: SyncTable, column: String) throws(CloudSyncError) {
        let key = TriggerSet(table: table).keyExpression("t")
        let prefix = Self.blockPrefix(column)
        let rows = try connection.rows("""
            SELECT \(key), t.\(SQLText.identifier(column)) FROM \(table.quotedName) t
              WHERE EXISTS (SELECT 1 FROM \(table.clockTable) c WHERE c.pk = \(key) AND c.col_name = ?1 AND c.col_version % 2 = 1)
                AND NOT EXISTS (SELECT 1 FROM \(table.clockTable) c WHERE c.pk = \(key) AND c.col_name >= ?2 AND c.col_name < ?3)
            """, [.string(column), .text(prefix), .text(Self.blockPrefixEnd(column))])
        for row in rows {
            guard case .blob(let pk) = row[0], row[1] != .null else { continue }
            try recordBlocks(table, column: column, pk: pk, value: row[1], isInsert: true)
        }
    }

    // MARK: Names

    static func blockPrefix(_ column: String) -> [UInt8] { Array(column.utf8) + [blockSeparator] }
    static func blockPrefixEnd(_ column: String) -> [UInt8] { Array(column.utf8) + [blockSeparator + 1] }

    static func blockName(_ column: String, _ key: [UInt8]) -> [UInt8] { blockPrefix(column) + key }

    private func blockStatement(_ sql: String) throws(CloudSyncError) -> Statement {
        // Cached only while merging (released after); local writes must not leave statements
        // prepared, so the host can close the connection at any time.
        mergeDepth > 0 ? try statement(sql) : try connection.prepare(sql)
    }

    /// The alive blocks of one row's column, in key order.
    func aliveBlocks(_ table: SyncTable, column: String, pk: [UInt8]) throws(CloudSyncError) -> [BlockDiff.Block] {
        let read = try blockStatement("""
            SELECT b.col_name, b.col_value FROM \(table.blocksTable) b JOIN \(table.clockTable) c ON c.pk = b.pk AND c.col_name = b.col_name
              WHERE b.pk = ?1 AND b.col_name >= ?2 AND b.col_name < ?3 AND c.col_version % 2 = 1 ORDER BY b.col_name
            """)
        _ = read.bindBlob(pk, at: 1)
        try read.bind(.text(Self.blockPrefix(column)), at: 2)
        try read.bind(.text(Self.blockPrefixEnd(column)), at: 3)
        let skip = Self.blockPrefix(column).count
        var blocks: [BlockDiff.Block] = []
        while try read.step() {
            let name = Self.textBytes(read.value(at: 0))
            blocks.append(BlockDiff.Block(key: Array(name.dropFirst(skip)), text: Self.textBytes(read.value(at: 1))))
        }
        read.reset()
        return blocks
    }

    package static func textBytes(_ value: SQLValue) -> [UInt8] {
        switch value {
        case .text(let bytes), .blob(let bytes): bytes
        case .integer(let v): Array(String(v).utf8)
        case .real(let v): Array(String(v).utf8)
        case .null: []
        }
    }

    // MARK: Local writes

    /// `cloudsync_block_write(table, column, pk, text, is_insert)`, called by the triggers.
    func triggerBlockWrite(_ arguments: SQLArguments) throws(CloudSyncError) {
        let name = try arguments.requireString(0, "table", of: "cloudsync_block_write")
        let column = try arguments.requireString(1, "column", of: "cloudsync_block_write")
        guard let table = try table(name), table.blockColumns[column] != nil, case .blob(let pk) = arguments.value(2) else {
            throw CloudSyncError(.misuse, "the sync triggers of table \(name) do not match its block columns: call cloudsync_init('\(name)') again")
        }
        try recordBlocks(table, column: column, pk: pk, value: arguments.value(3), isInsert: arguments.value(4).isTrue)
    }

    /// Records a new value of a block column as block changes (block-text.md §6). The base
    /// column keeps what was written.
    func recordBlocks(_ table: SyncTable, column: String, pk: [UInt8], value: SQLValue, isInsert: Bool) throws(CloudSyncError) {
        let delimiter = table.blockColumns[column] ?? Self.defaultDelimiter
        // NULL reads as the empty text on insert (one empty block) and removes every block on
        // update; a text after no blocks starts again from a0, a1, … (the keys 1.x's diff gives).
        let old = isInsert ? [] : try aliveBlocks(table, column: column, pk: pk)
        let emissions: [BlockDiff.Emission]
        if value == .null && !isInsert {
            emissions = old.map { .removed(key: $0.key) }
        } else if old.isEmpty {
            emissions = BlockDiff.initialBlocks(BlockDiff.split(Self.textBytes(value), delimiter: delimiter)).map { .added($0) }
        } else {
            emissions = try BlockDiff.diff(
                old: old, new: BlockDiff.split(Self.textBytes(value), delimiter: delimiter),
                insertSuffix: FractionalIndex.siteDigits(try siteID()))
        }
        guard !emissions.isEmpty else { return }
        let version = try transactionVersion()
        let addClock = try blockStatement("""
            INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, ?2, 1, ?3, 0, ?4)
              ON CONFLICT(pk, col_name) DO UPDATE SET col_version = col_version + 1 + (col_version % 2), db_version = excluded.db_version, site_id = 0, seq = excluded.seq
            """)
        let addText = try blockStatement(
            "INSERT INTO \(table.blocksTable)(pk, col_name, col_value) VALUES (?1, ?2, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_value = excluded.col_value")
        let removeClock = try blockStatement("""
            UPDATE \(table.clockTable) SET col_version = col_version + 1, db_version = ?3, site_id = 0, seq = ?4
              WHERE pk = ?1 AND col_name = ?2 AND col_version % 2 = 1
            """)
        let removeText = try blockStatement("DELETE FROM \(table.blocksTable) WHERE pk = ?1 AND col_name = ?2")
        for emission in emissions {
            switch emission {
            case .added(let block):
                let name = SQLValue.text(Self.blockName(column, block.key))
                try runBlockStatement(addClock, pk: pk, name: name, [.integer(version), .integer(clock.takeSeq())])
                try runBlockStatement(addText, pk: pk, name: name, [.text(block.text)])
            case .removed(let key):
                let name = SQLValue.text(Self.blockName(column, key))
                try runBlockStatement(removeClock, pk: pk, name: name, [.integer(version), .integer(clock.takeSeq())])
                try runBlockStatement(removeText, pk: pk, name: name, [])
            }
        }
    }

    /// Runs a block statement whose parameters are the key blob, the block name, then `rest`.
    private func runBlockStatement(_ statement: Statement, pk: [UInt8], name: SQLValue, _ rest: [SQLValue]) throws(CloudSyncError) {
        statement.reset()
        _ = statement.bindBlob(pk, at: 1)
        try statement.bind(name, at: 2)
        try statement.bind(rest, from: 3)
        try statement.run()
    }

    // MARK: Materialization

    /// The column's text from its alive blocks joined by the delimiter; NULL without blocks.
    func materializedText(_ table: SyncTable, column: String, pk: [UInt8]) throws(CloudSyncError) -> SQLValue {
        let blocks = try aliveBlocks(table, column: column, pk: pk)
        guard !blocks.isEmpty else { return .null }
        let delimiter = table.blockColumns[column] ?? Self.defaultDelimiter
        var text: [UInt8] = []
        for (index, block) in blocks.enumerated() {
            if index > 0 { text += delimiter }
            text += block.text
        }
        return .text(text)
    }

    /// Writes the materialized text into the base column without recording it; `createRow`
    /// inserts a missing row with its other columns at their defaults.
    func materialize(_ table: SyncTable, column: String, pk: [UInt8], createRow: Bool) throws(CloudSyncError) {
        let key = try PrimaryKeyCodec.decode(pk)
        let text = try materializedText(table, column: column, pk: pk)
        let target = SQLText.identifier(column)
        let sql = createRow
            ? "INSERT INTO \(table.quotedName)(\(table.quotedKeyList), \(target)) VALUES (\((1...key.count + 1).map { "?\($0)" }.joined(separator: ", "))) ON CONFLICT(\(table.quotedKeyList)) DO UPDATE SET \(target) = excluded.\(target)"
            : "UPDATE \(table.quotedName) SET \(target) = ?\(key.count + 1) WHERE \(table.keyMatch)"
        mergeDepth += 1
        defer { mergeDepth -= 1 }
        let write = try blockStatement(sql)
        try write.bind(key + [text])
        try write.run()
    }

    /// `cloudsync_text_materialize(table, column, pk...)`: restores the base column of one row
    /// from its blocks. A row that does not exist is left alone.
    public func textMaterialize(table name: String, column: String, key: [SQLValue]) throws(CloudSyncError) {
        let table = try requireTable(name)
        guard let declared = table.blockColumns.keys.first(where: { $0.lowercased() == column.lowercased() }) else {
            throw CloudSyncError(.misuse, "Column \(column) in table \(table.name) is not configured as block-level.")
        }
        guard key.count == table.primaryKey.count else {
            throw CloudSyncError(.misuse, "Wrong number of primary key values for cloudsync_text_materialize.")
        }
        try materialize(table, column: declared, pk: try PrimaryKeyCodec.encode(key), createRow: false)
    }

    // MARK: Merging

    /// Merges a received block change into `merger`'s row (block-text.md §7): decided like a
    /// cell, against the stored block text; the row's block columns are materialized when
    /// the run ends (`finishBlocks`).
    func mergeBlockChange(_ change: Change, column: String, table: SyncTable, merger: RowMerger, clock: CellClock, localClock: () -> CellClock) throws(CloudSyncError) {
        try merger.flush()
        let name = SQLValue.text(Array(change.column.utf8))
        let read = try blockStatement("""
            SELECT c.col_version, b.col_value FROM \(table.clockTable) c LEFT JOIN \(table.blocksTable) b ON b.pk = c.pk AND b.col_name = c.col_name
              WHERE c.pk = ?1 AND c.col_name = ?2
            """)
        _ = read.bindBlob(merger.keyBlob, at: 1)
        try read.bind(name, at: 2)
        var local: (version: Int64, text: SQLValue)?
        if try read.step() { local = (read.int64(at: 0), read.value(at: 1)) }
        read.reset()

        let decision = try MergeRules.decide(
            algorithm: table.algorithm, isSentinel: false, causalLength: change.causalLength, colVersion: change.colVersion,
            localCausalLength: merger.state.causalLength, hasLocalSentinel: merger.state.hasSentinel,
            localColVersion: local?.version,
            incomingValueIsGreater: { ValueOrdering.isGreater(change.value, than: local?.text ?? .null) })
        var sentinelClock = clock
        sentinelClock.colVersion = change.causalLength
        var storesText = true
        switch decision {
        case .ignore, .recordSentinel, .resurrect:
            return
        case .delete:
            merger.state.delete(sentinel: sentinelClock)
            try merger.flush()
            return
        case .retain(let deleteFirst):
            if deleteFirst { merger.state.delete(sentinel: sentinelClock, keepingClocks: true) }
            storesText = false
        case .revive:
            var revived = localClock()
            revived.colVersion = merger.state.causalLength + 1
            merger.state.resurrect(sentinel: revived)
        case .write(let resurrectFirst):
            if resurrectFirst { merger.state.resurrect(sentinel: sentinelClock) }
        }
        try merger.flush()

        let storeClock = try blockStatement("""
            INSERT INTO \(table.clockTable)(pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
              ON CONFLICT(pk, col_name) DO UPDATE SET col_version = excluded.col_version, db_version = excluded.db_version, site_id = excluded.site_id, seq = excluded.seq
            """)
        try runBlockStatement(storeClock, pk: merger.keyBlob, name: name, [.integer(change.colVersion), .integer(clock.dbVersion), .integer(clock.site), .integer(clock.seq)])
        guard storesText else { return }
        if change.colVersion % 2 == 1 {
            let store = try blockStatement(
                "INSERT INTO \(table.blocksTable)(pk, col_name, col_value) VALUES (?1, ?2, ?3) ON CONFLICT(pk, col_name) DO UPDATE SET col_value = excluded.col_value")
            try runBlockStatement(store, pk: merger.keyBlob, name: name, [.text(Self.textBytes(change.value))])
        } else {
            try runBlockStatement(try blockStatement("DELETE FROM \(table.blocksTable) WHERE pk = ?1 AND col_name = ?2"), pk: merger.keyBlob, name: name, [])
        }
        merger.pendingBlockColumns.insert(column)
    }

    /// Materializes the block columns a run changed, when the row is alive after it.
    func finishBlocks(_ table: SyncTable, merger: RowMerger) throws(CloudSyncError) {
        guard !merger.pendingBlockColumns.isEmpty else { return }
        try merger.flush()
        defer { merger.pendingBlockColumns.removeAll() }
        guard merger.state.causalLength % 2 == 1 else { return }
        for column in merger.pendingBlockColumns.sorted() {
            try materialize(table, column: column, pk: merger.keyBlob, createRow: true)
        }
    }
}
