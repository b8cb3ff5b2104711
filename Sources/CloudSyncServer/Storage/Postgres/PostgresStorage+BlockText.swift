import CloudSyncCore
import Logging
import PostgresNIO

/// Block-level text columns on PostgreSQL (block-text.md; docs/postgres.md, "Block columns").
///
/// The blocks live in `S."T_cloudsync_blocks"` (key columns, block name, text), their clocks in
/// the clock table under the block's name, as in the engine; the real column holds the whole
/// text. Merges and direct writes are turned into block changes by the engine itself, on the
/// scratch replica, where the column is put in block mode too.
extension PostgresStorage {
    public func setBlockColumn(database name: String, table tableName: String, column: String, delimiter: String) async throws {
        let base = try await database(name)
        guard let table = base.table(tableName) else {
            throw SyncStorageError(.invalidSchema, "table \(tableName) is not synchronized in database \(name)")
        }
        let logger = logger
        try await transaction { connection in
            // No writer of the database commits meanwhile, on any instance.
            try await Self.lockClock(base, connection: connection, logger: logger)
            var database = try await Self.withBlockColumns(base, connection: connection, logger: logger)
            let declared = table.allColumns.first { $0.name == column }?.name ?? table.allColumns.first { $0.name.lowercased() == column.lowercased() }?.name ?? column
            let isNew = database.blockColumns[table.name]?[declared] == nil
            database.blockColumns[table.name, default: [:]][declared] = delimiter
            // The engine's own checks (a key, unknown or non-TEXT column), as on the embedded storage.
            do {
                _ = try ScratchReplica(database)
            } catch let error as CloudSyncError {
                throw EmbeddedStorage.storageError(error)
            }
            try await connection.query("""
                INSERT INTO cloudsync.block_columns(database, tbl, col, delimiter) VALUES (\(name), \(table.name), \(declared), \(delimiter))
                ON CONFLICT (database, tbl, col) DO UPDATE SET delimiter = EXCLUDED.delimiter
                """, logger: logger)
            guard isNew else { return }
            for statement in PostgresLayout.blockStatements(schema: database.schemaName, table, blockColumns: Set((database.blockColumns[table.name] ?? [:]).keys)) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            // Rows written before: blocks a0, a1, … from the whole text, in one new version, for
            // every row with an alive plain clock and no blocks yet (as the engine converts).
            let keys = (1...table.key.count).map { "c.k\($0)" }.joined(separator: ", ")
            let match = table.key.enumerated().map { "t.\(SQLText.identifier($0.element.name)) = c.k\($0.offset + 1)" }.joined(separator: " AND ")
            let blockMatch = (1...table.key.count).map { "b.k\($0) = c.k\($0)" }.joined(separator: " AND ")
            let clocks = database.qualified(table.name + "_cloudsync")
            try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(database.qualified(PostgresTriggers.pendingTable(table.name))) (\((1...table.key.count).map { "k\($0)" }.joined(separator: ", ")), col_name, is_insert)
                SELECT \(keys), \(PostgresTriggers.literal(declared)), true FROM \(clocks) c JOIN \(database.qualified(table.name)) t ON \(match)
                 WHERE c.col_name = \(PostgresTriggers.literal(declared)) AND c.col_version % 2 = 1 AND t.\(SQLText.identifier(declared)) IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM \(clocks) b WHERE \(blockMatch) AND starts_with(b.col_name, \(PostgresTriggers.literal(declared + "\u{1F}"))))
                ON CONFLICT DO NOTHING
                """), logger: logger)
            try await Self.recordBlockWrites(database, connection: connection, logger: logger)
        }
        logger.info("block column set", metadata: ["database": "\(name)", "table": "\(table.name)", "column": "\(column)"])
    }

    public func blockColumns(database name: String) async throws -> [BlockColumnSetting] {
        let database = try await database(name)
        return try await rows("SELECT tbl, col, delimiter FROM cloudsync.block_columns WHERE database = \(database.name) ORDER BY tbl, col")
            .map { row in
                let (table, column, delimiter) = try row.decode((String, String, String).self)
                return BlockColumnSetting(table: table, column: column, delimiter: delimiter)
            }
    }

    /// `database` with its block columns as committed (read in the caller's transaction, so a
    /// merge holding the clock row, or a download's snapshot, sees the settings its rows were
    /// written with).
    static func withBlockColumns(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws -> PostgresDatabase {
        var result = database
        result.blockColumns = [:]
        for row in try await connection.query("SELECT tbl, col, delimiter FROM cloudsync.block_columns WHERE database = \(database.name)", logger: logger).collect() {
            let (table, column, delimiter) = try row.decode((String, String, String).self)
            guard let declared = database.table(table)?.name else { continue }
            result.blockColumns[declared, default: [:]][column] = delimiter
        }
        return result
    }

    /// The tables of `database` with block columns.
    static func blockTables(_ database: PostgresDatabase) -> [PostgresTable] {
        database.schema.tables.filter { !(database.blockColumns[$0.name] ?? [:]).isEmpty }
    }

    /// Takes the direct writes of block columns the triggers recorded (the caller holds the
    /// clock row, so no writer can add one until it commits).
    static func takeBlockWrites(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws -> [ScratchReplica.BlockWrite] {
        var writes: [ScratchReplica.BlockWrite] = []
        for table in blockTables(database) {
            let n = table.key.count
            let keySelect = table.key.enumerated().map { PostgresValues.select("k\($0.offset + 1)", $0.element.type) }.joined(separator: ", ")
            let sql = "DELETE FROM \(database.qualified(PostgresTriggers.pendingTable(table.name))) RETURNING \(keySelect), col_name, is_insert"
            var rows: [(order: String, write: ScratchReplica.BlockWrite)] = []
            for row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect() {
                let cells = row.makeRandomAccess()
                let key = try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
                let column = try cells[n].decode(String.self)
                rows.append((Hex.encode(try PrimaryKeyCodec.encode(key)) + "\u{0}" + column, ScratchReplica.BlockWrite(
                    table: table, key: key, column: column, isInsert: try cells[n + 1].decode(Bool.self))))
            }
            // A stable order: the seqs the writes take do not depend on the heap's.
            writes += rows.sorted { $0.order < $1.order }.map(\.write)
        }
        return writes
    }

    /// Whether other programs wrote block columns since they were last turned into changes.
    static func hasBlockWrites(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let tables = blockTables(database)
        guard !tables.isEmpty else { return false }
        let sql = "SELECT " + tables.map { "EXISTS (SELECT 1 FROM \(database.qualified(PostgresTriggers.pendingTable($0.name))))" }.joined(separator: " OR ")
        return try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().first?.decode(Bool.self) ?? false
    }

    /// Turns the pending direct writes of block columns into block changes, in the caller's
    /// transaction, under a version of its own: the engine diffs each written text against the
    /// row's alive blocks on a scratch replica, and the blocks and clocks it records are
    /// written back.
    static func recordBlockWrites(_ database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT set_config('cloudsync.merging', 'on', true)", logger: logger)
        try await lockClock(database, connection: connection, logger: logger)
        let writes = try await takeBlockWrites(database, connection: connection, logger: logger)
        guard !writes.isEmpty else { return }
        let stamp = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT db_version FROM \(SQLText.identifier(database.schemaName)).cloudsync_stamp()"), logger: logger).collect()
        guard let version = try stamp.first?.decode(Int64.self) else { throw SyncStorageError(.failure, "no version from cloudsync_stamp") }
        let replica = try ScratchReplica(database)
        var loaded: [String: [[UInt8]: ScratchReplica.RowState]] = [:]
        _ = try await applyBlockWrites(writes, to: replica, loaded: &loaded, version: version, database: database, connection: connection, logger: logger)
        try replica.commitSteps()
        try await recordLastSeq(replica, version: version, database: database, connection: connection, logger: logger)
    }

    /// Loads the rows of `writes` missing from `loaded` into `replica`, records the writes
    /// there (starting the replica's steps at `version`), writes the rows that changed to
    /// PostgreSQL and leaves their new states in `loaded`. Returns the keys loaded, by table.
    static func applyBlockWrites(
        _ writes: [ScratchReplica.BlockWrite], to replica: ScratchReplica, loaded: inout [String: [[UInt8]: ScratchReplica.RowState]],
        version: Int64, database: PostgresDatabase, connection: PostgresConnection, logger: Logger
    ) async throws -> [String: [[UInt8]: [SQLValue]]] {
        var keys: [String: [[UInt8]: [SQLValue]]] = [:]
        for write in writes { keys[write.table.name, default: [:]][try PrimaryKeyCodec.encode(write.key)] = write.key }
        try await loadMissingRows(keys, into: replica, loaded: &loaded, database: database, connection: connection, logger: logger)
        try replica.beginSteps(version: version)
        try replica.recordBlockWrites(writes)
        try await writeChangedRows(keys, of: replica, loaded: &loaded, database: database, connection: connection, logger: logger)
        return keys
    }

    /// Loads into `replica` the rows of `keys` that `loaded` does not hold yet, and records
    /// their states there.
    static func loadMissingRows(
        _ keys: [String: [[UInt8]: [SQLValue]]], into replica: ScratchReplica, loaded: inout [String: [[UInt8]: ScratchReplica.RowState]],
        database: PostgresDatabase, connection: PostgresConnection, logger: Logger
    ) async throws {
        for table in database.schema.tables {
            guard let missing = keys[table.name]?.filter({ loaded[table.name]?[$0.key] == nil }), !missing.isEmpty else { continue }
            let rows = try await load(table, keys: Array(missing.values), database: database, connection: connection, logger: logger)
            for (pk, key) in missing {
                let state = rows[pk] ?? ScratchReplica.RowState(values: nil, clocks: [:])
                try replica.load(table, key: key, state)
                loaded[table.name, default: [:]][pk] = state
            }
        }
    }

    /// Writes to PostgreSQL the rows of `keys` whose state in `replica` differs from the one in
    /// `loaded`, and leaves their new states in `loaded`.
    static func writeChangedRows(
        _ keys: [String: [[UInt8]: [SQLValue]]], of replica: ScratchReplica, loaded: inout [String: [[UInt8]: ScratchReplica.RowState]],
        database: PostgresDatabase, connection: PostgresConnection, logger: Logger
    ) async throws {
        for table in database.schema.tables {
            guard let tableKeys = keys[table.name] else { continue }
            var writer = PostgresRowWriter(table: table, database: database)
            for (pk, key) in tableKeys {
                let after = try replica.state(of: table, key: key)
                guard let before = loaded[table.name]?[pk], before != after else { continue }
                writer.add(key: key, from: before, to: after)
                loaded[table.name]?[pk] = after
            }
            if !writer.isEmpty { try await writer.flush(connection, logger: logger) }
        }
    }

    /// Turns other programs' writes of block columns into block changes before a download, in
    /// a transaction of its own (a download only reads). A database without block columns costs one query.
    func recordPendingBlockWrites(_ database: PostgresDatabase) async throws {
        guard try await !rows("SELECT 1 FROM cloudsync.block_columns WHERE database = \(database.name) LIMIT 1").isEmpty else { return }
        let logger = logger
        try await transaction { connection in
            let database = try await Self.withBlockColumns(database, connection: connection, logger: logger)
            guard try await Self.hasBlockWrites(database, connection: connection, logger: logger) else { return }
            try await Self.recordBlockWrites(database, connection: connection, logger: logger)
        }
    }
}
