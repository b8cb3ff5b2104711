import CloudSyncCore
import Logging
import PostgresNIO

/// A table's policies turned into PostgreSQL statements (docs/postgres.md, "Row-Level
/// Security"): the expressions are PostgreSQL SQL, evaluated with the managed database's schema
/// first in `search_path` and the token's claims in transaction settings (`auth_userid()`,
/// `auth_json()`).
///
/// - `visible` is a condition on a row of the table, used as `FROM S."T" WHERE (visible)`.
/// - A write check runs against the row images of a change: the bare row is a one-row derived
///   table named like the table (so `T.col` and bare `col` work), whose values are parameters
///   1…n; `NEW.col` and `OLD.col` are the parameters after them. The bare row is NEW for
///   insert and update, OLD for delete.
///
/// An operation without an expression is denied; a disabled policy allows everything but
/// keeps the table on the filtered download path, as on the embedded storage.
struct PostgresTablePolicy: Sendable {
    typealias Operation = CompiledTablePolicy.Operation

    struct WriteCheck: Sendable {
        /// `SELECT CASE WHEN (…) THEN true ELSE false END FROM (SELECT $1 AS c1, …) AS "T"`.
        var sql: String
        var references: [PolicyExpression.Reference]
    }

    let policy: TablePolicy
    let table: PostgresTable
    let isEnabled: Bool
    /// A condition on the stored row: `true`, `false`, or the select expression.
    let visible: String
    let writes: [Operation: WriteCheck]
    /// Tables the select expression reads (lowercased).
    let selectDependencies: Set<String>
    /// Tables the write expressions read (lowercased): their pending writes must be in
    /// PostgreSQL before a check runs, as the embedded storage's checks see them.
    let writeDependencies: Set<String>
    /// The select expression reads a table without clocks: visibility is recomputed on every
    /// download.
    let dependsOnUntrackedTable: Bool

    /// Compiles `policy` for `table` of `database`.
    /// - Parameter relations: lowercased names of the tables and views the expressions may
    ///   name (the database's schema and `public`).
    init(policy: TablePolicy, table: PostgresTable, database: PostgresDatabase, isEnabled: Bool, relations: Set<String>) throws(SyncStorageError) {
        self.policy = policy
        self.table = table
        self.isEnabled = isEnabled
        let synchronized = Set(database.schema.tables.map { $0.name.lowercased() })
        var visible = "false"
        var selectDependencies: Set<String> = []
        if !isEnabled {
            visible = "true"
        } else if let source = policy.select {
            let expression = try Self.parse(source, .select, firstParameter: 1, table: table)
            guard expression.references.isEmpty else {
                throw SyncStorageError(.invalidPolicy, "select policy of \(table.name): NEW and OLD exist only in insert, update and delete policies")
            }
            visible = "(\(expression.rewritten))"
            selectDependencies = expression.names.intersection(relations)
        }
        self.visible = visible
        self.selectDependencies = selectDependencies
        dependsOnUntrackedTable = !selectDependencies.subtracting(synchronized).isEmpty

        let columns = table.allColumns
        let row = columns.enumerated()
            .map { "\(Self.placeholder($0.offset + 1, $0.element.type)) AS \(SQLText.identifier($0.element.name))" }
            .joined(separator: ", ")
        var writes: [Operation: WriteCheck] = [:]
        var writeDependencies: Set<String> = []
        for operation in [Operation.insert, .update, .delete] {
            let source = isEnabled ? policy.expression(for: operation) : "true"
            guard let source else { continue }
            let expression = try Self.parse(source, operation, firstParameter: columns.count + 1, table: table)
            for reference in expression.references {
                guard table.column(reference.column) != nil else {
                    throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table.name): table \(table.name) has no column \(reference.column)")
                }
                if operation == .insert && reference.image == .old || operation == .delete && reference.image == .new {
                    throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table.name): \(reference.image.rawValue) does not exist for \(operation.rawValue)s")
                }
            }
            writeDependencies.formUnion(expression.names.intersection(relations))
            writes[operation] = WriteCheck(
                sql: "SELECT CASE WHEN (\(expression.rewritten)) THEN true ELSE false END FROM (SELECT \(row)) AS \(SQLText.identifier(table.name))",
                references: expression.references)
        }
        self.writes = writes
        self.writeDependencies = writeDependencies
    }

    /// Parameter `number` cast to `type`, so that PostgreSQL knows its type even when NULL.
    static func placeholder(_ number: Int, _ type: PostgresColumnType) -> String {
        "$\(number)::\(type.rawValue)"
    }

    private static func parse(_ source: String, _ operation: Operation, firstParameter: Int, table: PostgresTable) throws(SyncStorageError) -> PolicyExpression {
        do {
            return try PolicyExpression(source, firstParameter: firstParameter, placeholder: { number, reference in
                table.column(reference.column).map { placeholder(number, $0.type) } ?? "$\(number)"
            }, allowsCasts: true)
        } catch {
            throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy: \(error.message)")
        }
    }

    /// Plans every statement once (without running it), so that a mistake (unknown column,
    /// function or table, a type error, syntax) is reported when the policy is set. Runs in
    /// the caller's transaction, which a failure aborts.
    func validate(database: PostgresDatabase, connection: PostgresConnection, logger: Logger) async throws {
        var statements: [(Operation, String, Int)] = [(.select, "SELECT 1 FROM \(database.qualified(table.name)) WHERE \(visible)", 0)]
        for operation in [Operation.insert, .update, .delete] {
            if let write = writes[operation] { statements.append((operation, write.sql, table.allColumns.count + write.references.count)) }
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

    /// The parameters of a write check: the bare row, then the referenced images' columns
    /// (values in `table.allColumns` order). Nil when a referenced image does not exist.
    func bindings(_ check: WriteCheck, bare: [SQLValue], new: [SQLValue]?, old: [SQLValue]?) throws(SyncStorageError) -> PostgresBindings? {
        var binds = PostgresBindings()
        let columns = table.allColumns
        for (index, column) in columns.enumerated() {
            try PostgresValues.bind(bare[index], as: column.type, column: "\(table.name).\(column.name)", into: &binds)
        }
        for reference in check.references {
            guard let image = reference.image == .new ? new : old,
                  let index = columns.firstIndex(where: { $0.name.lowercased() == reference.column.lowercased() })
            else { return nil }
            try PostgresValues.bind(image[index], as: columns[index].type, column: "\(table.name).\(columns[index].name)", into: &binds)
        }
        return binds
    }
}
