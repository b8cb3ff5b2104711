import CloudSyncCore

/// Merges a token user's upload under the table policies.
///
/// Changes of tables without policies merge as usual. Changes of a protected table are
/// grouped by row; each row is merged inside a savepoint, and the row as it is afterwards is
/// checked against the policy of what happened to it: insert (it did not exist), update
/// (it existed and still does, with OLD and NEW), delete (it existed and no longer does). A
/// refused row is rolled back, clocks included, and corrected on the user's devices through
/// `RowVisibility.correct`. A row that exists neither before nor after changes no data and is
/// not stored (its clocks would let one user pre-empt keys of others) nor reported: a delete
/// is kept for the user's devices only (`RowVisibility.recordDelete`), and a row the device
/// still holds alive is corrected.
///
/// Runs inside the caller's write transaction.
struct GuardedMerge {
    let visibility: RowVisibility
    private var context: SyncContext { visibility.context }

    init(visibility: RowVisibility) {
        self.visibility = visibility
    }

    func merge(_ changes: [Change]) throws -> MergeResult {
        let (open, groups) = try ProtectedRow.partition(changes, policy: visibility.policy(for:), table: \.table.name)
        var result = MergeResult(changes: changes.count)
        if !open.isEmpty {
            result.failedRows += try context.merge(open).failedRows
        }
        var denied: [ProtectedRow<CompiledTablePolicy>] = []
        var corrections: [ProtectedRow<CompiledTablePolicy>] = []
        var deletes: [ProtectedRow<CompiledTablePolicy>] = []
        var readers: [String: Statement] = [:]
        for policy in Set(groups.map { $0.policy.table.name.lowercased() }).compactMap(visibility.policy(for:)) {
            try policy.createImageTable(on: context.connection)
        }
        for group in groups {
            let table = group.policy.table
            let reader: Statement
            if let cached = readers[table.name] {
                reader = cached
            } else {
                reader = try context.connection.prepare(
                    "SELECT \(table.allColumns.map(SQLText.identifier).joined(separator: ", ")) FROM \(table.quotedName) WHERE "
                        + table.primaryKey.enumerated().map { "\(SQLText.identifier($0.element)) = ?\($0.offset + 1)" }.joined(separator: " AND "))
                readers[table.name] = reader
            }
            func read() throws(CloudSyncError) -> [SQLValue]? {
                reader.reset()
                try reader.bind(group.key)
                defer { reader.reset() }
                guard try reader.step() else { return nil }
                return (0..<reader.columnCount).map { reader.value(at: $0) }
            }

            var adjusted = group.changes
            if let entry = try visibility.entry(table: table.name, pk: group.pk) {
                // The user's devices count this row's lives differently from the server.
                adjusted = entry.adjustUpload(group.changes, serverLength: try context.causalLength(table: table.name, pk: group.pk))
                guard !adjusted.isEmpty else { continue }
            }

            let before = try read()
            try context.connection.execute("SAVEPOINT cloudsync_rls_row")
            let report = try context.merge(adjusted)
            let after = try read()
            let allowed: Bool
            switch (before, after) {
            case (nil, nil):
                allowed = false
            case (nil, let new?):
                allowed = try group.policy.allows(.insert, new: new, old: nil, on: context.connection)
            case (let old?, let new?):
                allowed = try group.policy.allows(.update, new: new, old: old, on: context.connection)
            case (let old?, nil):
                allowed = try group.policy.allows(.delete, new: nil, old: old, on: context.connection)
            }
            if allowed {
                result.failedRows += report.failedRows
            } else {
                try context.connection.execute("ROLLBACK TO cloudsync_rls_row")
                if before != nil || after != nil {
                    denied.append(group)
                } else if group.deviceCL % 2 == 1 {
                    // The device holds a row the server has not (a later delete won here,
                    // maybe one this user never saw): bring it back to the truth, unreported.
                    corrections.append(group)
                } else {
                    deletes.append(group)
                }
            }
            try context.connection.execute("RELEASE cloudsync_rls_row")
        }

        var counts: [String: Int] = [:]
        for group in denied {
            counts[group.policy.table.name, default: 0] += 1
        }
        for group in denied + corrections {
            try visibility.correct(group.policy, pk: group.pk, deviceCL: group.deviceCL)
        }
        for group in deletes {
            try visibility.recordDelete(group.policy, pk: group.pk, deviceCL: group.deviceCL)
        }
        result.denied = counts.sorted { $0.key < $1.key }.map { DeniedRows(table: $0.key, rows: $0.value) }
        return result
    }
}
