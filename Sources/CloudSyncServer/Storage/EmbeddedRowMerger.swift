import CloudSyncCore

/// Merges a token user's protected rows into a managed database, one row at a time inside a
/// savepoint: the row as it is afterwards is checked against the write policy of what
/// happened to it (`RowImages`), with the row written, as a policy that reads its own table
/// must see it; a refused row is rolled back, clocks included.
///
/// Not `Sendable`: runs on the writer connection inside its write transaction.
final class EmbeddedRowMerger: ProtectedRowMerger {
    private let context: SyncContext
    private var readers: [String: Statement] = [:]
    private var imageTables: Set<String> = []
    private var verdicts: [RowVerdict] = []

    init(context: SyncContext) {
        self.context = context
    }

    func mergeUnprotected(_ changes: [Change]) throws -> [String] {
        changes.isEmpty ? [] : try context.merge(changes).failedRows
    }

    func causalLength(of row: ProtectedRow<CompiledTablePolicy>) throws -> Int64 {
        try context.causalLength(table: row.policy.table.name, pk: row.pk)
    }

    func merge(_ row: ProtectedRow<CompiledTablePolicy>, changes: [Change]) throws {
        let policy = row.policy
        if imageTables.insert(policy.table.name).inserted {
            try policy.createImageTable(on: context.connection)
        }
        let before = try read(row)
        try context.connection.execute("SAVEPOINT cloudsync_rls_row")
        let report = try context.merge(changes)
        let images = RowImages(before: before, after: try read(row))
        if let images, try policy.allows(images, on: context.connection) {
            verdicts.append(.allowed(failedRows: report.failedRows))
        } else {
            try context.connection.execute("ROLLBACK TO cloudsync_rls_row")
            verdicts.append(.refused(checked: images != nil))
        }
        try context.connection.execute("RELEASE cloudsync_rls_row")
    }

    func finish() -> [RowVerdict] {
        defer { verdicts = [] }
        return verdicts
    }

    /// The row's values in `table.allColumns` order, nil when it does not exist.
    private func read(_ row: ProtectedRow<CompiledTablePolicy>) throws(CloudSyncError) -> [SQLValue]? {
        let table = row.policy.table
        let reader: Statement
        if let cached = readers[table.name] {
            reader = cached
        } else {
            reader = try context.connection.prepare(
                "SELECT \(table.allColumns.map(SQLText.identifier).joined(separator: ", ")) FROM \(table.quotedName) WHERE "
                    + table.primaryKey.enumerated().map { "\(SQLText.identifier($0.element)) = ?\($0.offset + 1)" }.joined(separator: " AND "))
            readers[table.name] = reader
        }
        reader.reset()
        try reader.bind(row.key)
        defer { reader.reset() }
        guard try reader.step() else { return nil }
        return (0..<reader.columnCount).map { reader.value(at: $0) }
    }
}
