import CloudSyncCore

/// How a storage merges a token user's upload for `RowSecurity.merge`: the changes of
/// unprotected tables as usual, then each protected row, each checked against the write
/// policy of what happened to it (`RowImages`) and put back, clocks included, if refused.
/// A storage may defer checks to run many at once; `finish` settles them all.
protocol ProtectedRowMerger<Policy>: AnyObject {
    associatedtype Policy: ProtectedTablePolicy

    /// Merges changes of tables without policies; returns the engine's failed rows.
    func mergeUnprotected(_ changes: [Change]) async throws -> [String]
    /// The server's causal length of the row, before its changes are merged.
    func causalLength(of row: ProtectedRow<Policy>) async throws -> Int64
    /// Merges `changes` (the row's, mapped to the server's causal lengths) and checks the row.
    func merge(_ row: ProtectedRow<Policy>, changes: [Change]) async throws
    /// Settles every row merged so far; returns their verdicts in the order they were merged.
    func finish() async throws -> [RowVerdict]
}
