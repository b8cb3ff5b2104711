import CloudSyncCore
import Logging
import NIOCore
import PostgresNIO

extension PostgresStorage {
    /// Keys loaded per query when reading the rows an upload touches.
    static let loadBatch = 200

    public func merge(database name: String, site: SiteID, payload: [UInt8], as principal: Principal) async throws -> MergeResult {
        try SyncStorageError.refuseFragments(payload)
        let database = try await self.database(name)
        let changes: [Change]
        do {
            let (header, decoded) = try PayloadDecoder.decode(payload, limits: payloadLimits)
            guard database.knownHashes.contains(header.schemaHash) else { throw CloudSyncError.unknownSchema(header.schemaHash) }
            changes = decoded
        } catch let error as CloudSyncError {
            throw EmbeddedStorage.storageError(error)
        }
        // Rows by table, in first-seen order; unknown tables and columns are refused before
        // anything is written, as the engine does.
        var keys: [String: [[UInt8]: [SQLValue]]] = [:]
        for change in changes {
            guard let table = database.table(change.table) else {
                throw SyncStorageError(.badPayload, "table \(change.table) is not synchronized in database \(name)")
            }
            // A block change names its column before 0x1F; the engine refuses it when the
            // column is not in block mode.
            let column = change.column.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? change.column
            guard change.column == Change.sentinelColumn || table.column(column) != nil else {
                throw SyncStorageError(.badPayload, "table \(table.name) has no column \(change.column)")
            }
            if keys[table.name]?[change.pk] == nil {
                do {
                    let values = try PrimaryKeyCodec.decode(change.pk)
                    guard values.count == table.key.count else {
                        throw SyncStorageError(.badPayload, "a key of table \(table.name) has \(values.count) values instead of \(table.key.count)")
                    }
                    keys[table.name, default: [:]][change.pk] = values
                } catch let error as CloudSyncError {
                    throw EmbeddedStorage.storageError(error)
                }
            }
        }
        let logger = logger
        let uploadKeys = keys
        let cached = database
        return try await transaction { connection in
            try await connection.query("SELECT set_config('cloudsync.merging', 'on', true)", logger: logger)
            let stamp = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT db_version FROM \(SQLText.identifier(cached.schemaName)).cloudsync_stamp()"), logger: logger).collect()
            guard let version = try stamp.first?.decode(Int64.self) else { throw SyncStorageError(.failure, "no version from cloudsync_stamp") }
            // Holding the clock row: the block settings and direct writes are final.
            let database = try await Self.withBlockColumns(cached, connection: connection, logger: logger)
            let replica = try ScratchReplica(database)
            var before: [String: [[UInt8]: ScratchReplica.RowState]] = [:]
            var keysByTable = uploadKeys
            // Other programs' writes of block columns become block changes first, so the
            // upload merges against them (and their seqs come before the upload's).
            let writes = try await Self.takeBlockWrites(database, connection: connection, logger: logger)
            if !writes.isEmpty {
                for (table, tableKeys) in try await Self.applyBlockWrites(
                    writes, to: replica, loaded: &before, version: version, database: database, connection: connection, logger: logger) {
                    keysByTable[table, default: [:]].merge(tableKeys) { old, _ in old }
                }
            }
            try replica.beginSteps(version: version)
            try await Self.loadMissingRows(uploadKeys, into: replica, loaded: &before, database: database, connection: connection, logger: logger)
            if let claims = principal.claims, let security = try await self.rowSecurity(database, claims: claims, connection: connection) {
                try await Self.setSession(database, claims: claims, connection: connection, logger: logger)
                let merger = try PostgresRowMerger(
                    keys: keysByTable, loaded: before, replica: replica, version: version, database: database, connection: connection, logger: logger)
                return try await security.merge(changes, with: merger)
            }
            let report = try replica.context.merge(changes)
            try replica.commitSteps()
            try await Self.writeChangedRows(keysByTable, of: replica, loaded: &before, database: database, connection: connection, logger: logger)
            try await Self.recordLastSeq(replica, version: version, database: database, connection: connection, logger: logger)
            return MergeResult(changes: report.changes, failedRows: report.failedRows)
        }
    }

    /// Moves the clock's seq past the seqs the replica gave out at `version`, for stamps later
    /// in the transaction.
    static func recordLastSeq(_ replica: ScratchReplica, version: Int64, database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws {
        let lastSeq = try replica.lastSeq(version: version)
        if lastSeq > 0 {
            try await connection.query(
                PostgresQuery(unsafeSQL: "UPDATE \(database.qualified("cloudsync_clock")) SET seq = greatest(seq, \(lastSeq))"), logger: logger)
        }
    }

    /// Reads rows and clocks of `keys` (key value lists) from PostgreSQL, keyed by key blob.
    static func load(_ table: PostgresTable, keys: [[SQLValue]], database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws -> [[UInt8]: ScratchReplica.RowState] {
        var result: [[UInt8]: ScratchReplica.RowState] = [:]
        for start in stride(from: 0, to: keys.count, by: loadBatch) {
            let batch = Array(keys[start..<min(keys.count, start + loadBatch)])
            var binds = PostgresBindings()
            var tuples: [String] = []
            for key in batch {
                var marks: [String] = []
                for (index, column) in table.key.enumerated() {
                    try PostgresValues.bind(key[index], as: column.type, column: "\(table.name).\(column.name)", into: &binds)
                    marks.append(PostgresValues.placeholder(binds.count, column.type))
                }
                tuples.append("(" + marks.joined(separator: ", ") + ")")
            }
            let keyList = "(" + table.key.map { SQLText.identifier($0.name) }.joined(separator: ", ") + ")"
            let clockKeyList = "(" + table.key.indices.map { "k\($0 + 1)" }.joined(separator: ", ") + ")"
            let values = tuples.joined(separator: ", ")

            let columns = table.allColumns.map { PostgresValues.select(SQLText.identifier($0.name), $0.type) }.joined(separator: ", ")
            for row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(columns) FROM \(database.qualified(table.name)) WHERE \(keyList) IN (\(values))", binds: binds),
                logger: logger).collect() {
                let cells = row.makeRandomAccess()
                let rowValues = try table.allColumns.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
                let pk = try PrimaryKeyCodec.encode(Array(rowValues.prefix(table.key.count)))
                result[pk, default: .init(values: nil, clocks: [:])].values = rowValues
            }
            let keySelect = table.key.enumerated().map { PostgresValues.select("k\($0.offset + 1)", $0.element.type) }.joined(separator: ", ")
            for row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(keySelect), col_name, col_version, db_version, site_id, seq FROM \(database.qualified(table.name + "_cloudsync")) WHERE \(clockKeyList) IN (\(values))", binds: binds),
                logger: logger).collect() {
                let cells = row.makeRandomAccess()
                let n = table.key.count
                let key = try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
                let clock = ScratchReplica.Clock(
                    colVersion: try cells[n + 1].decode(Int64.self), dbVersion: try cells[n + 2].decode(Int64.self),
                    siteID: Array(try cells[n + 3].decode(ByteBuffer.self).readableBytesView), seq: try cells[n + 4].decode(Int64.self))
                result[try PrimaryKeyCodec.encode(key), default: .init(values: nil, clocks: [:])].clocks[try cells[n].decode(String.self)] = clock
            }
            guard !(database.blockColumns[table.name] ?? [:]).isEmpty else { continue }
            for row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(keySelect), col_name, col_value FROM \(database.qualified(PostgresTriggers.blocksTable(table.name))) WHERE \(clockKeyList) IN (\(values))", binds: binds),
                logger: logger).collect() {
                let cells = row.makeRandomAccess()
                let n = table.key.count
                let key = try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
                result[try PrimaryKeyCodec.encode(key), default: .init(values: nil, clocks: [:])].blocks[try cells[n].decode(String.self)] =
                    try cells[n + 1].decode(String?.self) ?? ""
            }
        }
        return result
    }

    public func changes(database name: String, excludingSite site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions, as principal: Principal) async throws -> ChangesPage? {
        let cached = try await self.database(name)
        try await recordPendingBlockWrites(cached)
        let limit = max(1, limit)
        let logger = logger
        if let claims = principal.claims, try await !rows("SELECT 1 FROM cloudsync.policies WHERE database = \(name) LIMIT 1").isEmpty {
            // A token user of a database with policies: visibility is brought up to date and
            // recorded as the page is built, holding the clock row so that no writer commits
            // meanwhile (as the embedded storage does this on its writer).
            return try await transaction { connection in
                try await Self.lockClock(cached, connection: connection, logger: logger)
                let database = try await Self.withBlockColumns(cached, connection: connection, logger: logger)
                try await Self.setSession(database, claims: claims, connection: connection, logger: logger)
                guard let security = try await self.rowSecurity(database, claims: claims, connection: connection) else {
                    return try await Self.page(database, excluding: site, after: cursor, limit: limit, options: options, connection: connection, logger: logger)
                }
                try await security.refresh()
                return try await security.page(excluding: site, after: cursor, limit: limit, options: options)
            }
        }
        return try await transaction { connection in
            // One snapshot for every table: a version seen in one table is complete in all.
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            let database = try await Self.withBlockColumns(cached, connection: connection, logger: logger)
            return try await Self.page(database, excluding: site, after: cursor, limit: limit, options: options, connection: connection, logger: logger)
        }
    }

    /// An unfiltered page of the feed, read in the caller's transaction.
    static func page(_ database: PostgresDatabase, excluding site: SiteID, after cursor: SyncCursor, limit: Int, options: ChangesPageOptions, connection: PostgresConnection, logger: Logger) async throws -> ChangesPage? {
        var changes: [Change] = []
        for table in database.schema.tables {
            changes += try await feed(table, database: database, excluding: site, after: cursor, limit: limit, connection: connection, logger: logger)
        }
        var page = Array(changes.sorted(by: feedOrder).prefix(limit))
        // The byte bound (`ChangesPageOptions.maxBytes`), as `SyncContext.encodePayload` applies it.
        var builder = PayloadBuilder(format: options.format)
        var taken = 0
        while taken < page.count, builder.body.count < options.maxBytes {
            builder.append(page[taken])
            taken += 1
        }
        let cutByBytes = taken < page.count
        page.removeSubrange(taken...)
        guard let last = page.last else { return nil }
        if options.wholeVersions, page.count >= limit || cutByBytes {
            // A full page may have cut its last version: the rest of it follows.
            var rest: [Change] = []
            for table in database.schema.tables {
                var binds = PostgresBindings()
                binds.append(last.dbVersion)
                binds.append(last.seq)
                binds.append(ByteBuffer(bytes: site.bytes))
                rest += try await clockChanges(table, database: database, where: "c.db_version = $1 AND c.seq > $2 AND c.site_id <> $3",
                                               binds: binds, connection: connection, logger: logger)
            }
            let sorted = rest.sorted(by: feedOrder)
            for change in sorted { builder.append(change) }
            page += sorted
        }
        let end = page[page.count - 1]
        return ChangesPage(
            payload: builder.finish(schemaHash: database.schema.hash(for: options.format), libraryVersion: SyncContext.version),
            count: page.count, last: SyncCursor(dbVersion: end.dbVersion, seq: end.seq))
    }

    /// The feed's order across tables.
    static func feedOrder(_ a: Change, _ b: Change) -> Bool {
        (a.dbVersion, a.seq, a.table) < (b.dbVersion, b.seq, b.table)
    }

    /// The first `limit` changes of one table after `cursor`, not made at `site`.
    static func feed(_ table: PostgresTable, database: PostgresDatabase, excluding site: SiteID, after cursor: SyncCursor, limit: Int, connection: PostgresConnection, logger: Logger) async throws -> [Change] {
        var binds = PostgresBindings()
        binds.append(cursor.dbVersion)
        binds.append(cursor.seq)
        binds.append(ByteBuffer(bytes: site.bytes))
        binds.append(Int64(limit))
        return try await clockChanges(table, database: database, where: "(c.db_version, c.seq) > ($1, $2) AND c.site_id <> $3", limit: "$4",
                                      binds: binds, connection: connection, logger: logger)
    }

    /// The changes of one table whose clocks (`c`) match `condition`, in feed order.
    static func clockChanges(_ table: PostgresTable, database: PostgresDatabase, where condition: String, limit: String? = nil, binds: PostgresBindings, connection: PostgresConnection, logger: Logger) async throws -> [Change] {
        let n = table.key.count
        let keyNames = (1...n).map { "c.k\($0)" }
        let join = table.key.enumerated().map { "t.\(SQLText.identifier($0.element.name)) = c.k\($0.offset + 1)" }.joined(separator: " AND ")
        let sentinelMatch = (1...n).map { "r.k\($0) = c.k\($0)" }.joined(separator: " AND ")
        let keySelect = table.key.enumerated().map { PostgresValues.select(keyNames[$0.offset], $0.element.type) }
        let valueSelect = table.columns.map { PostgresValues.select("t.\(SQLText.identifier($0.name))", $0.type) }
        let clockTable = database.qualified(table.name + "_cloudsync")
        // A block's text comes from the blocks table (NULL once deleted).
        let hasBlocks = !(database.blockColumns[table.name] ?? [:]).isEmpty
        let blockJoin = hasBlocks
            ? " LEFT JOIN \(database.qualified(PostgresTriggers.blocksTable(table.name))) b ON " + (1...n).map { "b.k\($0) = c.k\($0)" }.joined(separator: " AND ") + " AND b.col_name = c.col_name"
            : ""
        let sql = """
            SELECT \((keySelect + ["c.col_name", "c.col_version", "c.db_version", "c.site_id", "c.seq",
                                   "COALESCE((SELECT r.col_version FROM \(clockTable) r WHERE \(sentinelMatch) AND r.col_name = '\(Change.sentinelColumn)'), 1)"] + valueSelect
                     + (hasBlocks ? ["b.col_value"] : [])).joined(separator: ", "))
            FROM \(clockTable) c LEFT JOIN \(database.qualified(table.name)) t ON \(join)\(blockJoin)
            WHERE \(condition)
            ORDER BY c.db_version, c.seq\(limit.map { " LIMIT \($0)" } ?? "")
            """
        var result: [Change] = []
        for row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect() {
            let cells = row.makeRandomAccess()
            let key = try table.key.enumerated().map { try PostgresValues.value(cells[$0.offset], $0.element.type) }
            let column = try cells[n].decode(String.self)
            var value = SQLValue.null
            if let index = table.columns.firstIndex(where: { $0.name == column }) {
                value = try PostgresValues.value(cells[n + 6 + index], table.columns[index].type)
            } else if hasBlocks, column.utf8.contains(SyncContext.blockSeparator), let text = try cells[n + 6 + table.columns.count].decode(String?.self) {
                value = .string(text)
            }
            result.append(Change(
                table: table.name, pk: try PrimaryKeyCodec.encode(key), column: column, value: value,
                colVersion: try cells[n + 1].decode(Int64.self), dbVersion: try cells[n + 2].decode(Int64.self),
                siteID: Array(try cells[n + 3].decode(ByteBuffer.self).readableBytesView),
                causalLength: try cells[n + 5].decode(Int64.self), seq: try cells[n + 4].decode(Int64.self)))
        }
        return result
    }
}
