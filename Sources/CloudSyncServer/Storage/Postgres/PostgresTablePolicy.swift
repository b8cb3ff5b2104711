import CloudSyncCore
import Logging
import PostgresNIO

/// A table's policies turned into PostgreSQL statements (docs/postgres.md, "Row-Level
/// Security"): the expressions are PostgreSQL SQL, evaluated with the managed database's schema
/// first in `search_path` and the token's claims in transaction settings (`auth_userid()`,
/// `auth_json()`).
///
/// - `visible` is a condition on a row of the table, used as `FROM S."T" WHERE (visible)`.
/// - A write check runs against the row images of many changes at once (`checkSQL`): a
///   `VALUES` list with, per change, its index, the bare row and the referenced `NEW.col` /
///   `OLD.col` values; the bare row is a lateral derived table named like the table (so
///   `T.col` and bare `col` work). The bare row is NEW for insert and update, OLD for delete.
///
/// An operation without an expression is denied; a disabled policy allows everything but
/// keeps the table on the filtered download path, as on the embedded storage.
struct PostgresTablePolicy: ProtectedTablePolicy, Sendable {
    typealias Operation = PolicyOperation

    struct WriteCheck: Sendable {
        /// The expression, its references rewritten to `cloudsync_images.cloudsync_rN`.
        var expression: String
        var references: [PolicyExpression.Reference]
    }

    let policy: TablePolicy
    let table: PostgresTable
    let isEnabled: Bool
    /// A condition on the stored row: `true`, `false`, or the select expression.
    let visible: String
    let writes: [Operation: WriteCheck]
    let selectDependencies: Set<String>
    /// Tables the write expressions read (lowercased): their pending writes must be in
    /// PostgreSQL before a check runs, as the embedded storage's checks see them.
    let writeDependencies: Set<String>
    let dependsOnUntrackedTable: Bool

    var tableName: String { table.name }

    /// Compiles `policy` for `table` of `database`.
    /// - Parameter relations: lowercased names of the tables and views the expressions may
    ///   name (the database's schema and `public`).
    init(policy: TablePolicy, table: PostgresTable, database: PostgresDatabase, isEnabled: Bool, relations: Set<String>) throws(SyncStorageError) {
        self.policy = policy
        self.table = table
        self.isEnabled = isEnabled
        let scanned = try ScannedPolicy(
            policy, table: table.name, columns: table.allColumns.map(\.name), isEnabled: isEnabled,
            synchronizedTables: Set(database.schema.tables.map { $0.name.lowercased() }), relations: relations,
            dialect: .init(allow: "true", deny: "false", allowsCasts: true) { number, _ in "cloudsync_images.cloudsync_r\(number)" })
        visible = scanned.visible
        selectDependencies = scanned.selectDependencies
        writeDependencies = scanned.writeDependencies
        dependsOnUntrackedTable = scanned.dependsOnUntrackedTable
        writes = scanned.writes.mapValues { WriteCheck(expression: $0.rewritten, references: $0.references) }
    }

    /// Checks `rows` changes: `SELECT index, allowed` for the tuples `bind` appended, in order.
    /// Parameters per tuple: `checkWidth(check)`.
    func checkSQL(_ check: WriteCheck, rows: Int) -> String {
        let types = [PostgresColumnType.bigint] + table.allColumns.map(\.type) + check.references.map { table.column($0.column)?.type ?? .text }
        let tuples = (0..<rows).map { row in
            "(" + types.enumerated().map { "$\(row * types.count + $0.offset + 1)::\($0.element.rawValue)" }.joined(separator: ", ") + ")"
        }
        let names = ["cloudsync_i"] + table.allColumns.indices.map { "cloudsync_b\($0 + 1)" } + check.references.indices.map { "cloudsync_r\($0 + 1)" }
        let bare = table.allColumns.enumerated().map { "cloudsync_images.cloudsync_b\($0.offset + 1) AS \(SQLText.identifier($0.element.name))" }
        return """
            SELECT cloudsync_images.cloudsync_i, CASE WHEN (\(check.expression)) THEN true ELSE false END
            FROM (VALUES \(tuples.joined(separator: ", "))) AS cloudsync_images(\(names.joined(separator: ", ")))
            CROSS JOIN LATERAL (SELECT \(bare.joined(separator: ", "))) AS \(SQLText.identifier(table.name))
            """
    }

    /// Parameters per change of `checkSQL`.
    func checkWidth(_ check: WriteCheck) -> Int {
        1 + table.allColumns.count + check.references.count
    }

    /// Appends one change's tuple for `checkSQL`: its index, the bare row, then the referenced
    /// images' columns (values in `table.allColumns` order).
    func bind(_ check: WriteCheck, index: Int, bare: [SQLValue], new: [SQLValue]?, old: [SQLValue]?, into binds: inout PostgresBindings) throws(SyncStorageError) {
        binds.append(Int64(index))
        let columns = table.allColumns
        for (position, column) in columns.enumerated() {
            try PostgresValues.bind(bare[position], as: column.type, column: "\(table.name).\(column.name)", into: &binds)
        }
        for reference in check.references {
            let image = reference.image == .new ? new : old
            guard let position = columns.firstIndex(where: { $0.name.lowercased() == reference.column.lowercased() }) else {
                binds.appendNull()
                continue
            }
            try PostgresValues.bind(image?[position] ?? .null, as: columns[position].type, column: "\(table.name).\(columns[position].name)", into: &binds)
        }
    }

    /// Plans every statement once (without running it), so that a mistake (unknown column,
    /// function or table, a type error, syntax) is reported when the policy is set. Runs in
    /// the caller's transaction, which a failure aborts.
    func validate(database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws {
        var statements: [(Operation, String, Int)] = [(.select, "SELECT 1 FROM \(database.qualified(table.name)) WHERE \(visible)", 0)]
        for operation in Operation.writes {
            if let write = writes[operation] { statements.append((operation, checkSQL(write, rows: 1), checkWidth(write))) }
        }
        for (operation, sql, parameters) in statements {
            var binds = PostgresBindings()
            for _ in 0..<parameters { binds.appendNull() }
            do {
                try await connection.query(PostgresQuery(unsafeSQL: "SELECT * FROM (\(sql)) AS cloudsync_check LIMIT 0", binds: binds), logger: logger)
            } catch let error as PSQLError {
                let message = error.serverInfo?[.message] ?? "\(error.code)"
                throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table.name) does not compile: \(message)")
            }
        }
    }
}
