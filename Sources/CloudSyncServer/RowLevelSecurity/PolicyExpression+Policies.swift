extension PolicyExpression {
    /// Scans the expression of `operation` in the policy of `table` and checks its `NEW` and
    /// `OLD` references, with errors worded for `policy set` (one storage's SQL or the other's).
    /// - Parameters:
    ///   - columns: the table's columns.
    ///   - placeholder: the text standing for reference N (counting from 1).
    init(
        policyOf table: String, _ operation: PolicyOperation, _ source: String, columns: [String],
        allowsCasts: Bool = false, placeholder: (Int, Reference) -> String = { number, _ in "?\(number)" }
    ) throws(SyncStorageError) {
        do {
            try self.init(source, firstParameter: 1, placeholder: placeholder, allowsCasts: allowsCasts)
        } catch {
            throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy: \(error.message)")
        }
        if operation == .select {
            guard references.isEmpty else {
                throw SyncStorageError(.invalidPolicy, "select policy of \(table): NEW and OLD exist only in insert, update and delete policies")
            }
        }
        for reference in references {
            guard columns.contains(where: { $0.lowercased() == reference.column.lowercased() }) else {
                throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table): table \(table) has no column \(reference.column)")
            }
            if operation == .insert && reference.image == .old || operation == .delete && reference.image == .new {
                throw SyncStorageError(.invalidPolicy, "\(operation.rawValue) policy of \(table): \(reference.image.rawValue) does not exist for \(operation.rawValue)s")
            }
        }
    }
}
