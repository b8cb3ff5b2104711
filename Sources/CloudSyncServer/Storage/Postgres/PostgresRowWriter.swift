import CloudSyncCore
import Logging
import NIOCore
import PostgresNIO

/// Collects the rows and clocks a merge changed in one table and writes them to PostgreSQL
/// in a few multi-row statements, rather than one round trip per cell.
///
/// Not `Sendable`: used by one merge.
struct PostgresRowWriter {
    let table: PostgresTable
    let database: PostgresDatabase
    private var upserts: [[SQLValue]] = []
    private var deletes: [[SQLValue]] = []
    private var clockUpserts: [(key: [SQLValue], column: String, clock: ScratchReplica.Clock)] = []
    private var clockDeletes: [(key: [SQLValue], column: String)] = []
    private var blockUpserts: [(key: [SQLValue], name: String, text: String)] = []
    private var blockDeletes: [(key: [SQLValue], name: String)] = []

    /// Parameters per statement, well below PostgreSQL's limit of 65535.
    static let maxParameters = 8000

    init(table: PostgresTable, database: PostgresDatabase) {
        self.table = table
        self.database = database
    }

    var isEmpty: Bool {
        upserts.isEmpty && deletes.isEmpty && clockUpserts.isEmpty && clockDeletes.isEmpty && blockUpserts.isEmpty && blockDeletes.isEmpty
    }

    /// Records the difference between two states of the row `key`.
    mutating func add(key: [SQLValue], from old: ScratchReplica.RowState, to new: ScratchReplica.RowState) {
        if new.values != old.values {
            if let values = new.values { upserts.append(values) } else { deletes.append(key) }
        }
        for column in Set(old.clocks.keys).union(new.clocks.keys).sorted() where old.clocks[column] != new.clocks[column] {
            if let clock = new.clocks[column] {
                clockUpserts.append((key, column, clock))
            } else {
                clockDeletes.append((key, column))
            }
        }
        for name in Set(old.blocks.keys).union(new.blocks.keys).sorted() where old.blocks[name] != new.blocks[name] {
            if let text = new.blocks[name] {
                blockUpserts.append((key, name, text))
            } else {
                blockDeletes.append((key, name))
            }
        }
    }

    /// Writes everything recorded (triggers are quiet: the transaction is merging).
    func flush(_ connection: PostgresConnection, logger: Logger) async throws {
        let quote = SQLText.identifier
        let keyNames = table.key.map { quote($0.name) }
        let clockKeys = table.key.indices.map { "k\($0 + 1)" }
        let clockTable = database.qualified(table.name + "_cloudsync")

        let columns = table.allColumns
        let update = table.columns.isEmpty
            ? "DO NOTHING"
            : "DO UPDATE SET " + table.columns.map { "\(quote($0.name)) = EXCLUDED.\(quote($0.name))" }.joined(separator: ", ")
        try await run(upserts, width: columns.count, connection, logger) { tuples in
            "INSERT INTO \(database.qualified(table.name)) (\(columns.map { quote($0.name) }.joined(separator: ", "))) VALUES \(tuples) ON CONFLICT (\(keyNames.joined(separator: ", "))) \(update)"
        } bind: { values, binds in
            for (index, column) in columns.enumerated() {
                try PostgresValues.bind(values[index], as: column.type, column: "\(table.name).\(column.name)", into: &binds)
            }
            return columns.map(\.type)
        }

        try await run(deletes, width: table.key.count, connection, logger) { tuples in
            "DELETE FROM \(database.qualified(table.name)) WHERE (\(keyNames.joined(separator: ", "))) IN (\(tuples))"
        } bind: { key, binds in
            try bindKey(key, into: &binds)
        }

        try await run(clockUpserts, width: table.key.count + 5, connection, logger) { tuples in
            """
            INSERT INTO \(clockTable) (\((clockKeys + ["col_name", "col_version", "db_version", "site_id", "seq"]).joined(separator: ", "))) VALUES \(tuples)
            ON CONFLICT (\((clockKeys + ["col_name"]).joined(separator: ", "))) DO UPDATE SET col_version = EXCLUDED.col_version, db_version = EXCLUDED.db_version, site_id = EXCLUDED.site_id, seq = EXCLUDED.seq
            """
        } bind: { entry, binds in
            var types = try bindKey(entry.key, into: &binds)
            binds.append(entry.column)
            binds.append(entry.clock.colVersion)
            binds.append(entry.clock.dbVersion)
            binds.append(ByteBuffer(bytes: entry.clock.siteID))
            binds.append(entry.clock.seq)
            types += [.text, .bigint, .bigint, .bytea, .bigint]
            return types
        }

        try await run(clockDeletes, width: table.key.count + 1, connection, logger) { tuples in
            "DELETE FROM \(clockTable) WHERE (\((clockKeys + ["col_name"]).joined(separator: ", "))) IN (\(tuples))"
        } bind: { entry, binds in
            var types = try bindKey(entry.key, into: &binds)
            binds.append(entry.column)
            types.append(.text)
            return types
        }

        let blocksTable = database.qualified(PostgresTriggers.blocksTable(table.name))
        try await run(blockUpserts, width: table.key.count + 2, connection, logger) { tuples in
            """
            INSERT INTO \(blocksTable) (\((clockKeys + ["col_name", "col_value"]).joined(separator: ", "))) VALUES \(tuples)
            ON CONFLICT (\((clockKeys + ["col_name"]).joined(separator: ", "))) DO UPDATE SET col_value = EXCLUDED.col_value
            """
        } bind: { entry, binds in
            var types = try bindKey(entry.key, into: &binds)
            binds.append(entry.name)
            binds.append(entry.text)
            types += [.text, .text]
            return types
        }

        try await run(blockDeletes, width: table.key.count + 1, connection, logger) { tuples in
            "DELETE FROM \(blocksTable) WHERE (\((clockKeys + ["col_name"]).joined(separator: ", "))) IN (\(tuples))"
        } bind: { entry, binds in
            var types = try bindKey(entry.key, into: &binds)
            binds.append(entry.name)
            types.append(.text)
            return types
        }
    }

    private func bindKey(_ key: [SQLValue], into binds: inout PostgresBindings) throws -> [PostgresColumnType] {
        for (index, column) in table.key.enumerated() {
            try PostgresValues.bind(key[index], as: column.type, column: "\(table.name).\(column.name)", into: &binds)
        }
        return table.key.map(\.type)
    }

    /// Runs `statement` over `items` in chunks; `bind` appends one item's parameters and
    /// returns their column types (for the placeholders' casts).
    private func run<Item>(
        _ items: [Item], width: Int, _ connection: PostgresConnection, _ logger: Logger,
        statement: (String) -> String, bind: (Item, inout PostgresBindings) throws -> [PostgresColumnType]
    ) async throws {
        let chunk = max(1, Self.maxParameters / max(1, width))
        for start in stride(from: 0, to: items.count, by: chunk) {
            var binds = PostgresBindings()
            var tuples: [String] = []
            for item in items[start..<min(items.count, start + chunk)] {
                let first = binds.count + 1
                let types = try bind(item, &binds)
                tuples.append("(" + types.enumerated().map { PostgresValues.placeholder(first + $0.offset, $0.element) }.joined(separator: ", ") + ")")
            }
            try await connection.query(PostgresQuery(unsafeSQL: statement(tuples.joined(separator: ", ")), binds: binds), logger: logger)
        }
    }
}
