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
struct CompiledTablePolicy: ProtectedTablePolicy {
    typealias Operation = PolicyOperation

    let policy: TablePolicy
    let table: SynchronizedTableInfo
    let isEnabled: Bool
    /// `SELECT <visible> FROM "T" WHERE <key = ?1…>`.
    let selectRowSQL: String
    /// `SELECT cloudsync_pk_encode(<key>) FROM "T" WHERE <visible>`: the visible rows.
    let selectAllSQL: String
    /// Per write operation: the evaluation SQL.
    let writes: [Operation: String]
    /// The temp table of the row images, quoted.
    let imageTable: String
    let selectDependencies: Set<String>
    let dependsOnUntrackedTable: Bool

    var tableName: String { table.name }

    /// Compiles `policy` for `table`.
    /// - Parameters:
    ///   - synchronizedTables: lowercased names of the synchronized tables.
    ///   - allTables: lowercased names of every table and view of the database.
    init(policy: TablePolicy, table: SynchronizedTableInfo, isEnabled: Bool, synchronizedTables: Set<String>, allTables: Set<String>) throws(SyncStorageError) {
        self.policy = policy
        self.table = table
        self.isEnabled = isEnabled
        let imageTable = SQLText.identifier("cloudsync_rls_image_" + table.name)
        self.imageTable = imageTable
        let scanned = try ScannedPolicy(
            policy, table: table.name, columns: table.allColumns, isEnabled: isEnabled,
            synchronizedTables: synchronizedTables, relations: allTables,
            dialect: .init(allow: "1", deny: "0", allowsCasts: false) { _, reference in
                "(SELECT \(SQLText.identifier(reference.column)) FROM temp.\(imageTable) WHERE cloudsync_image = '\(reference.image == .new ? "new" : "old")')"
            })
        let keyMatch = table.primaryKey.enumerated()
            .map { "\(SQLText.identifier($0.element)) = ?\($0.offset + 1)" }
            .joined(separator: " AND ")
        let keyList = table.primaryKey.map(SQLText.identifier).joined(separator: ", ")
        selectRowSQL = "SELECT CASE WHEN \(scanned.visible) THEN 1 ELSE 0 END FROM \(table.quotedName) WHERE \(keyMatch)"
        selectAllSQL = "SELECT cloudsync_pk_encode(\(keyList)) FROM \(table.quotedName) WHERE \(scanned.visible)"
        selectDependencies = scanned.selectDependencies
        dependsOnUntrackedTable = scanned.dependsOnUntrackedTable
        writes = scanned.writes.mapValues { expression in
            "SELECT CASE WHEN (\(expression.rewritten)) THEN 1 ELSE 0 END FROM temp.\(imageTable) AS \(table.quotedName) WHERE cloudsync_image = ?1"
        }
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
        for operation in Operation.writes {
            if let write = writes[operation] { statements.append((operation, write)) }
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
    func allows(_ images: RowImages, on connection: Connection) throws(CloudSyncError) -> Bool {
        guard let write = writes[images.operation] else { return false }
        try connection.execute("DELETE FROM temp.\(imageTable)")
        let names = table.allColumns.map(SQLText.identifier).joined(separator: ", ")
        let marks = (0...table.allColumns.count).map { "?\($0 + 1)" }.joined(separator: ", ")
        for (image, values) in [("new", images.new), ("old", images.old)] {
            guard let values else { continue }
            try connection.run("INSERT INTO temp.\(imageTable) (cloudsync_image, \(names)) VALUES (\(marks))", [.string(image)] + values)
        }
        let statement = try connection.prepare(write)
        try statement.bind([.string(images.operation == .delete ? "old" : "new")])
        return try statement.step() && statement.int64(at: 0) == 1
    }
}
