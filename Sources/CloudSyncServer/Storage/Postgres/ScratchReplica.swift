import CloudSyncCore

/// An in-memory SQLite replica holding just the rows an upload touches, loaded from
/// PostgreSQL, so that the upload is merged by the engine itself. Block columns are in block
/// mode here too, their blocks loaded and read back with the rows (`RowState.blocks`), and
/// other programs' writes of them are recorded as block changes here (`recordBlockWrites`).
///
/// The replica takes the PostgreSQL database's site id (so "local" means the same thing on
/// both sides) and merges with the version PostgreSQL gave the transaction. Afterwards
/// `state(of:)` reads each row back for writing to PostgreSQL.
///
/// Not `Sendable`: one connection, used by one merge.
final class ScratchReplica {
    /// A row and its clocks, as stored on either side.
    struct RowState: Equatable {
        /// Values in `PostgresTable.allColumns` order; nil when the row does not exist.
        var values: [SQLValue]?
        /// col_name -> clock.
        var clocks: [String: Clock]
        /// Block name (column, 0x1F, position key) -> text of the block, for block columns.
        var blocks: [String: String] = [:]
    }

    /// A direct SQL write of a block column, recorded by the PostgreSQL triggers and turned
    /// into block changes here (docs/postgres.md, "Block columns").
    struct BlockWrite {
        var table: PostgresTable
        var key: [SQLValue]
        var column: String
        var isInsert: Bool
    }

    struct Clock: Equatable {
        var colVersion: Int64
        var dbVersion: Int64
        var siteID: [UInt8]
        var seq: Int64
    }

    private let connection: SQLiteConnection
    let context: SyncContext
    private let database: PostgresDatabase
    /// Inside `beginSteps` … `commitSteps`.
    private var inSteps = false

    init(_ database: PostgresDatabase) throws {
        self.database = database
        connection = try SQLiteConnection(path: ":memory:", engine: true, setup: "")
        do {
            let sql = connection.connection
            // The engine reads its site id from rowid 0 of this table; creating it first makes
            // the replica share the PostgreSQL database's site id.
            try sql.execute("CREATE TABLE cloudsync_site_id (site_id BLOB UNIQUE NOT NULL)")
            try sql.run("INSERT INTO cloudsync_site_id(rowid, site_id) VALUES (0, ?1)", [.blob(database.siteID)])
            try sql.execute(database.schema.sqlite)
            let context = try connection.engine
            for table in database.schema.tables {
                try context.initialize(table: table.name)
                // The engine's own checks refuse a key, unknown or non-TEXT column here, so
                // `column set` validates by building a replica.
                for (column, delimiter) in (database.blockColumns[table.name] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    try context.setColumnSetting(table: table.name, column: column, "algo", .string("block"))
                    try context.setColumnSetting(table: table.name, column: column, "delimiter", .string(delimiter))
                }
                try context.setTracking(false, table: table.name)
            }
            context.stampsMergesInOrder = true
            self.context = context
        } catch {
            connection.close()
            throw error
        }
    }

    deinit { connection.close() }

    /// Puts a row and its clocks, as PostgreSQL has them, into the replica.
    func load(_ table: PostgresTable, key: [SQLValue], _ state: RowState) throws {
        let sql = connection.connection
        if let values = state.values {
            let names = table.allColumns.map { SQLText.identifier($0.name) }.joined(separator: ", ")
            let marks = (1...values.count).map { "?\($0)" }.joined(separator: ", ")
            try sql.run("INSERT INTO \(SQLText.identifier(table.name)) (\(names)) VALUES (\(marks))", values)
        }
        let pk = try PrimaryKeyCodec.encode(key)
        for (column, clock) in state.clocks {
            try sql.run(
                "INSERT INTO \(SQLText.identifier(table.name + "_cloudsync")) (pk, col_name, col_version, db_version, site_id, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                [.blob(pk), .string(column), .integer(clock.colVersion), .integer(clock.dbVersion), .integer(try ordinal(clock.siteID)), .integer(clock.seq)])
        }
        for (name, text) in state.blocks {
            try sql.run(
                "INSERT INTO \(SQLText.identifier(table.name + "_cloudsync_blocks")) (pk, col_name, col_value) VALUES (?1, ?2, ?3)",
                [.blob(pk), .string(name), .string(text)])
        }
    }

    /// Records direct writes of block columns as the engine records a local write of the
    /// text (`cloudsync_block_write`: the line diff against the alive blocks, keys, clocks),
    /// with the PostgreSQL database's site id. Runs between `beginSteps` and `commitSteps`,
    /// before the upload's changes, so that their seqs follow these.
    func recordBlockWrites(_ writes: [BlockWrite]) throws {
        let sql = connection.connection
        for write in writes {
            guard let index = write.table.allColumns.firstIndex(where: { $0.name == write.column }) else { continue }
            let names = write.table.allColumns.map { SQLText.identifier($0.name) }.joined(separator: ", ")
            let match = write.table.key.enumerated().map { "\(SQLText.identifier($0.element.name)) = ?\($0.offset + 1)" }.joined(separator: " AND ")
            // A row deleted since its write has nothing to record.
            guard let values = try sql.rows("SELECT \(names) FROM \(SQLText.identifier(write.table.name)) WHERE \(match)", write.key).first else { continue }
            try sql.run(
                "SELECT cloudsync_block_write(?1, ?2, ?3, ?4, ?5)",
                [.string(write.table.name), .string(write.column), .blob(try PrimaryKeyCodec.encode(write.key)), values[index], .integer(write.isInsert ? 1 : 0)])
        }
    }

    private func ordinal(_ site: [UInt8]) throws -> Int64 {
        if site == database.siteID { return 0 }
        let sql = connection.connection
        try sql.run("INSERT OR IGNORE INTO cloudsync_site_id(site_id) VALUES (?1)", [.blob(site)])
        return try sql.scalar("SELECT rowid FROM cloudsync_site_id WHERE site_id = ?1", [.blob(site)])?.integerValue ?? 0
    }

    /// Starts the replica's one transaction: every block write and `context.merge` until
    /// `commitSteps()` is stamped with `version` and the next seqs (the replica's next version
    /// is max(clocks, floor) + 1 = `version`, every loaded clock being older than the version
    /// PostgreSQL just gave out). Steps allow checks between merges (`PostgresRowMerger`).
    /// Calling it again does nothing. A replica whose steps fail is thrown away.
    func beginSteps(version: Int64) throws {
        guard !inSteps else { return }
        try context.setSetting(SyncContext.EngineSetting.versionFloor, .integer(version - 1))
        try connection.connection.execute("BEGIN")
        inSteps = true
    }

    func commitSteps() throws {
        guard inSteps else { return }
        try connection.connection.execute("COMMIT")
        inSteps = false
    }

    /// Puts a row and its clocks back as `state` (a merge of it was refused).
    func restore(_ table: PostgresTable, key: [SQLValue], _ state: RowState) throws {
        let sql = connection.connection
        let match = table.key.enumerated().map { "\(SQLText.identifier($0.element.name)) = ?\($0.offset + 1)" }.joined(separator: " AND ")
        try sql.run("DELETE FROM \(SQLText.identifier(table.name)) WHERE \(match)", key)
        try sql.run("DELETE FROM \(SQLText.identifier(table.name + "_cloudsync")) WHERE pk = ?1", [.blob(try PrimaryKeyCodec.encode(key))])
        if hasBlocks(table) {
            try sql.run("DELETE FROM \(SQLText.identifier(table.name + "_cloudsync_blocks")) WHERE pk = ?1", [.blob(try PrimaryKeyCodec.encode(key))])
        }
        try load(table, key: key, state)
    }

    /// A row and its clocks as the replica has them now.
    func state(of table: PostgresTable, key: [SQLValue]) throws -> RowState {
        let sql = connection.connection
        let names = table.allColumns.map { SQLText.identifier($0.name) }.joined(separator: ", ")
        let match = table.key.enumerated().map { "\(SQLText.identifier($0.element.name)) = ?\($0.offset + 1)" }.joined(separator: " AND ")
        let values = try sql.rows("SELECT \(names) FROM \(SQLText.identifier(table.name)) WHERE \(match)", key).first
        var clocks: [String: Clock] = [:]
        for row in try sql.rows(
            "SELECT c.col_name, c.col_version, c.db_version, s.site_id, c.seq FROM \(SQLText.identifier(table.name + "_cloudsync")) c JOIN cloudsync_site_id s ON s.rowid = c.site_id WHERE c.pk = ?1",
            [.blob(try PrimaryKeyCodec.encode(key))]) {
            guard let column = row[0].stringValue, case .blob(let site) = row[3] else { continue }
            clocks[column] = Clock(colVersion: row[1].integerValue ?? 0, dbVersion: row[2].integerValue ?? 0, siteID: site, seq: row[4].integerValue ?? 0)
        }
        var blocks: [String: String] = [:]
        if hasBlocks(table) {
            for row in try sql.rows(
                "SELECT col_name, col_value FROM \(SQLText.identifier(table.name + "_cloudsync_blocks")) WHERE pk = ?1", [.blob(try PrimaryKeyCodec.encode(key))]) {
                guard let name = row[0].stringValue else { continue }
                blocks[name] = String(decoding: SyncContext.textBytes(row[1]), as: UTF8.self)
            }
        }
        return RowState(values: values, clocks: clocks, blocks: blocks)
    }

    /// Whether `table` has block columns (and so a blocks table here).
    private func hasBlocks(_ table: PostgresTable) -> Bool {
        !(database.blockColumns[table.name] ?? [:]).isEmpty
    }

    /// The highest seq the replica handed out in its merge transaction, or -1.
    func lastSeq(version: Int64) throws -> Int64 {
        var last: Int64 = -1
        for table in database.schema.tables {
            let value = try connection.connection.scalar(
                "SELECT max(seq) FROM \(SQLText.identifier(table.name + "_cloudsync")) WHERE db_version = ?1", [.integer(version)])
            last = max(last, value?.integerValue ?? -1)
        }
        return last
    }
}
