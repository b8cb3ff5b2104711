/// The shape of a synchronized table, for code outside the engine that queries it and its
/// clock table directly (the server's Row-Level Security).
public struct SynchronizedTableInfo: Sendable, Equatable {
    /// The table name as declared.
    public let name: String
    /// Primary-key columns, in key order.
    public let primaryKey: [String]
    /// Non-key columns, in declaration order.
    public let columns: [String]
    /// The table name, quoted for SQL.
    public let quotedName: String
    /// The clock table's name, quoted for SQL (crdt-model.md, "Storage").
    public let clockTable: String

    /// Every column: the key first, then the others.
    public var allColumns: [String] { primaryKey + columns }
}
