/// A table's policy expressions scanned and checked once for either storage: the select
/// condition, a rewritten expression per write operation, and the tables they read. Each
/// storage wraps them in its own statements (`CompiledTablePolicy`, `PostgresTablePolicy`).
///
/// An operation without an expression is denied (it has no entry in `writes`); a disabled
/// policy allows everything but keeps the table on the filtered download path, so that
/// devices get back rows they were denied.
struct ScannedPolicy {
    /// How a storage's SQL writes what the scan produces.
    struct Dialect {
        /// The literals of true and false.
        var allow: String
        var deny: String
        /// PostgreSQL's `::` casts.
        var allowsCasts: Bool
        /// The text standing for the NEW/OLD reference number N (from 1).
        var placeholder: (Int, PolicyExpression.Reference) -> String
    }

    /// A condition on the stored row: allow, deny, or the select expression.
    let visible: String
    let writes: [PolicyOperation: PolicyExpression]
    let selectDependencies: Set<String>
    /// Tables the write expressions read (lowercased).
    let writeDependencies: Set<String>
    let dependsOnUntrackedTable: Bool

    /// - Parameters:
    ///   - synchronizedTables: lowercased names of the synchronized tables.
    ///   - relations: lowercased names of the tables and views the expressions may name.
    init(
        _ policy: TablePolicy, table: String, columns: [String], isEnabled: Bool,
        synchronizedTables: Set<String>, relations: Set<String>, dialect: Dialect
    ) throws(SyncStorageError) {
        var visible = dialect.deny
        var selectDependencies: Set<String> = []
        if !isEnabled {
            visible = dialect.allow
        } else if let source = policy.select {
            let expression = try PolicyExpression(policyOf: table, .select, source, columns: columns, allowsCasts: dialect.allowsCasts)
            visible = "(\(expression.rewritten))"
            selectDependencies = expression.names.intersection(relations)
        }
        self.visible = visible
        self.selectDependencies = selectDependencies
        dependsOnUntrackedTable = !selectDependencies.subtracting(synchronizedTables).isEmpty

        var writes: [PolicyOperation: PolicyExpression] = [:]
        var writeDependencies: Set<String> = []
        for operation in PolicyOperation.writes {
            guard let source = isEnabled ? policy.expression(for: operation) : dialect.allow else { continue }
            let expression = try PolicyExpression(
                policyOf: table, operation, source, columns: columns, allowsCasts: dialect.allowsCasts, placeholder: dialect.placeholder)
            writeDependencies.formUnion(expression.names.intersection(relations))
            writes[operation] = expression
        }
        self.writes = writes
        self.writeDependencies = writeDependencies
    }
}
