/// One change row (wire-format §3): a row of the `cloudsync_changes` virtual table.
public struct Change: Hashable, Sendable {
    /// The table name.
    public var table: String
    /// The row's primary-key blob (wire-format §2).
    public var pk: [UInt8]
    /// The column name, or ``Change/sentinelColumn`` for a row-existence change.
    public var column: String
    /// The column's value at the sender (NULL for a sentinel).
    public var value: SQLValue
    /// The per-cell counter, +1 on every local write of that cell.
    public var colVersion: Int64
    /// The sender's logical clock of the transaction that produced the change.
    public var dbVersion: Int64
    /// The 16-byte id of the database where the change was made.
    public var siteID: [UInt8]
    /// The row's causal length: odd when the row exists, even when it is deleted.
    public var causalLength: Int64
    /// The order of the change inside its transaction.
    public var seq: Int64

    /// The column name of a row-existence (insert, delete, resurrect) change.
    public static let sentinelColumn = "__[RIP]__"

    /// A change with every field given (the field docs above say what each means).
    public init(
        table: String, pk: [UInt8], column: String, value: SQLValue, colVersion: Int64,
        dbVersion: Int64, siteID: [UInt8], causalLength: Int64, seq: Int64
    ) {
        self.table = table
        self.pk = pk
        self.column = column
        self.value = value
        self.colVersion = colVersion
        self.dbVersion = dbVersion
        self.siteID = siteID
        self.causalLength = causalLength
        self.seq = seq
    }
}
