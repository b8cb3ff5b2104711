/// What a storage holds of one row of a protected table, as the visibility rules need it.
struct RowFacts: Equatable, Sendable {
    /// Which rows of a table to read facts of.
    enum Selection {
        /// These keys (a key the table never had gets no facts).
        case keys([[UInt8]])
        /// The rows with a clock newer than this `db_version`.
        case changedAfter(Int64)
    }

    var pk: [UInt8]
    /// The row's causal length (odd: it exists), 0 without clocks.
    var length: Int64
    /// The row exists and passes the select policy.
    var visible: Bool
    /// The oldest `db_version` of its clocks.
    var oldest: Int64
}
