/// The shape of a synchronized table, for code outside the engine that queries it and its
/// clock table directly (the server's Row-Level Security).
package struct SynchronizedTableInfo: Sendable, Equatable {
    /// The table name as declared.
    package let name: String
    /// Primary-key columns, in key order.
    package let primaryKey: [String]
    /// Non-key columns, in declaration order.
    package let columns: [String]
    /// The table name, quoted for SQL.
    package let quotedName: String
    /// The clock table's name, quoted for SQL (crdt-model.md, "Storage").
    package let clockTable: String

    /// Every column: the key first, then the others.
    package var allColumns: [String] { primaryKey + columns }
}
