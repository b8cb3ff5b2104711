/// A table policy compiled by a storage, as the Row-Level Security engine (`RowSecurity`)
/// needs it; the SQL that evaluates it stays with the storage.
protocol ProtectedTablePolicy {
    /// The table's name as the database spells it.
    var tableName: String { get }
    /// Tables the select expression reads, other than through the row itself (lowercased).
    var selectDependencies: Set<String> { get }
    /// The select expression reads a table without clocks (not synchronized, or a view): its
    /// changes cannot be seen, so visibility is recomputed on every download.
    var dependsOnUntrackedTable: Bool { get }
}
