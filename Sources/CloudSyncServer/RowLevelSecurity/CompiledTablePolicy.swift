import CloudSyncCore

/// A table's policies turned into the SQL that evaluates them on one database.
///
/// - `select` runs against the stored row: `SELECT … FROM "T" WHERE <key>`.
/// - `insert`, `update`, `delete` run against the row images of a change, stored in a temp
///   table with the table's columns and affinities (`imageTable`, one row per image, named by
///   `cloudsync_image`): the bare row is that table's row `?1` ('new' for insert and update,
///   'old' for delete) named like the table (so `T.col` and bare `col` work); `NEW.col` and
///   `OLD.col` read the other rows. Affinity matters: `owner = auth_userid()` must compare
///   the same way on an INTEGER column whether it reads the stored row or an image.
///
/// An operation without an expression is denied. A disabled policy allows everything but keeps
/// the table on the filtered download path, so that devices get back rows they were denied.
struct CompiledTablePolicy {
    enum Operation: String, CaseIterable {
        case select, insert, update, delete
    }

    let policy: TablePolicy
    let table: SynchronizedTableInfo
    let isEnabled: Bool
    /// `SELECT <visible> FROM "T" WHERE <key = ?1…>`.
    let selectRowSQL: String
    /// `SELECT cloudsync_pk_encode(<key>) FROM "T" WHERE <visible>`: the visible rows.
    let selectAllSQL: String
    /// Per write operation: the evaluation SQL and its NEW/OLD references.
    let writes: [Operation: (sql: String, references: [PolicyExpression.Reference])]
    /// The temp table of the row images, quoted.
    let imageTable: String
    /// Tables the select expression reads, other than through the row itself (lowercased).
    let selectDependencies: Set<String>
    /// True when the select expression reads a table without a clock (not synchronized, or a
    /// view): its changes cannot be seen, so visibility is recomputed on every download.
    let dependsOnUntrackedTable: Bool

    /// Compiles `policy` for `table`.
    /// - Parameters:
    ///   - synchronizedTables: lowercased names of the synchronized tables.
    ///   - allTables: lowercased names of every table and view of the database.
    init(policy: TablePolicy, table: SynchronizedTableInfo, isEnabled: Bool, synchronizedTables: Set<String>, allTables: Set<String>) throws(SyncStorageError) {
        self.policy = policy
        self.table = table
        self.isEnabled = isEnabled
        let keyMatch = table.primaryKey.enumerated()
            .map { "\(SQLText.identifier($0.element)) = ?\($0.offset + 1)" }
            .joined(separator: " AND ")
        let keyList = table.primaryKey.map(SQLText.identifier).joined(separator: ", ")
        var visible = "0"
        var dependencies: Set<String> = []
        if !isEnabled {
            visible = "1"
        } else if let source = policy.select {
            let expression = try PolicyExpression(policyOf: table.name, .select, source, columns: table.allColumns)
            visible = "(\(expression.rewritten))"
            dependencies = expression.names.intersection(allTables)
        }
        selectRowSQL = "SELECT CASE WHEN \(visible) THEN 1 ELSE 0 END FROM \(table.quotedName) WHERE \(keyMatch)"
        selectAllSQL = "SELECT cloudsync_pk_encode(\(keyList)) FROM \(table.quotedName) WHERE \(visible)"
        selectDependencies = dependencies
        dependsOnUntrackedTable = !dependencies.subtracting(synchronizedTables).isEmpty

        let imageTable = SQLText.identifier("cloudsync_rls_image_" + table.name)
        self.imageTable = imageTable
        var writes: [Operation: (String, [PolicyExpression.Reference])] = [:]
        for operation in [Operation.insert, .update, .delete] {
            let source = isEnabled ? policy.expression(for: operation) : "1"
            guard let source else { continue }
            let expression = try PolicyExpression(policyOf: table.name, operation, source, columns: table.allColumns) { _, reference in
                "(SELECT \(SQLText.identifier(reference.column)) FROM temp.\(imageTable) WHERE cloudsync_image = '\(reference.image == .new ? "new" : "old")')"
            }
            writes[operation] = ("SELECT CASE WHEN (\(expression.rewritten)) THEN 1 ELSE 0 END FROM temp.\(imageTable) AS \(table.quotedName) WHERE cloudsync_image = ?1", expression.references)
        }
        self.writes = writes
    }

    /// Prepares every statement once on `connection`, so that a mistake (unknown column or
    /// function, syntax) is reported when the policy is set.
    func validate(on connection: Connection) throws(SyncStorageError) {
        do {
            try createImageTable(on: connection)
        } catch {
            throw SyncStorageError(.invalidPolicy, "cannot check the policies of \(table.name): \(error.message)")
        }
        var statements: [(Operation, String)] = [(.select, selectRowSQL), (.select, selectAllSQL)]
        for operation in [Operation.insert, .update, .delete] {
            if let write = writes[operation] { statements.append((operation, write.sql)) }
        }
        for (operation, sql) in statements {
            do {
                _ = try connection.prepare(sql)
            } catch {
                throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table.name) does not compile: \(error.message)")
            }
        }
    }
}

extension CompiledTablePolicy {
    /// (Re)creates `imageTable` on `connection`: the table's columns, with their affinities
    /// (CREATE TABLE … AS gives each column its expression's affinity), and `cloudsync_image`.
    func createImageTable(on connection: Connection) throws(CloudSyncError) {
        try connection.execute("DROP TABLE IF EXISTS temp.\(imageTable)")
        try connection.execute("CREATE TEMP TABLE \(imageTable) AS SELECT '' AS cloudsync_image, * FROM main.\(table.quotedName) WHERE 0")
    }

    /// Evaluates the write policy of `operation` on row images (values in
    /// `table.allColumns` order). False when the operation has no expression.
    func allows(_ operation: Operation, new: [SQLValue]?, old: [SQLValue]?, on connection: Connection) throws(CloudSyncError) -> Bool {
        guard let write = writes[operation] else { return false }
        try connection.execute("DELETE FROM temp.\(imageTable)")
        let names = table.allColumns.map(SQLText.identifier).joined(separator: ", ")
        let marks = (0...table.allColumns.count).map { "?\($0 + 1)" }.joined(separator: ", ")
        for (image, values) in [("new", new), ("old", old)] {
            guard let values else { continue }
            try connection.run("INSERT INTO temp.\(imageTable) (cloudsync_image, \(names)) VALUES (\(marks))", [.string(image)] + values)
        }
        let statement = try connection.prepare(write.sql)
        try statement.bind([.string(operation == .delete ? "old" : "new")])
        return try statement.step() && statement.int64(at: 0) == 1
    }
}

extension TablePolicy {
    func expression(for operation: CompiledTablePolicy.Operation) -> String? {
        switch operation {
        case .select: select
        case .insert: insert
        case .update: update
        case .delete: delete
        }
    }
}
