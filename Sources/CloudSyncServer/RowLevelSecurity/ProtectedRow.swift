import CloudSyncCore

/// The changes of one row of a policy-protected table in a token user's upload, in payload
/// order: the unit a guarded merge checks and refuses.
struct ProtectedRow<Policy> {
    var policy: Policy
    var pk: [UInt8]
    /// The key's values, decoded from `pk`.
    var key: [SQLValue]
    var changes: [Change]

    /// The highest causal length the upload carried for the row.
    var deviceCL: Int64 { changes.map(\.causalLength).max() ?? 0 }

    /// Splits an upload into the changes of tables without a policy, and the others grouped
    /// by row in first-seen order.
    /// - Parameters:
    ///   - policy: the policy of a table, nil when it has none.
    ///   - table: the canonical name of a policy's table.
    static func partition(_ changes: [Change], policy: (String) -> Policy?, table: (Policy) -> String) throws(CloudSyncError) -> (open: [Change], rows: [ProtectedRow]) {
        var open: [Change] = []
        var rows: [ProtectedRow] = []
        var index: [String: [[UInt8]: Int]] = [:]
        for change in changes {
            guard let found = policy(change.table) else {
                open.append(change)
                continue
            }
            let name = table(found)
            if let existing = index[name]?[change.pk] {
                rows[existing].changes.append(change)
            } else {
                index[name, default: [:]][change.pk] = rows.count
                rows.append(ProtectedRow(policy: found, pk: change.pk, key: try PrimaryKeyCodec.decode(change.pk), changes: [change]))
            }
        }
        return (open, rows)
    }
}
