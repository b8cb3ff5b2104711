import CloudSyncCore

extension RowSecurity {
    /// Merges a token user's upload under the table policies, through `merger`.
    ///
    /// Changes of tables without policies merge as usual. Changes of a protected table are
    /// grouped by row, mapped to the server's causal lengths, merged and checked (see
    /// `ProtectedRowMerger`). A refused row is corrected on the user's devices. A row that
    /// exists neither before nor after changes no data and is not stored (its clocks would let
    /// one user pre-empt keys of others) nor reported: a delete is kept for the user's devices
    /// only (`MirrorEntry.recordDelete`), and a row the device still holds alive is corrected.
    func merge(_ changes: [Change], with merger: some ProtectedRowMerger<Policy>) async throws -> MergeResult {
        let (open, rows) = try ProtectedRow.partition(changes, policy: policy(for:), table: \.tableName)
        var result = MergeResult(changes: changes.count)
        result.failedRows += try await merger.mergeUnprotected(open)

        var entries: [String: [[UInt8]: MirrorEntry]] = [:]
        for (name, tableRows) in Dictionary(grouping: rows, by: \.policy.tableName) {
            entries[name] = try await self.entries(table: name, pks: tableRows.map(\.pk))
        }
        var merged: [ProtectedRow<Policy>] = []
        for row in rows {
            var adjusted = row.changes
            if let entry = entries[row.policy.tableName]?[row.pk] {
                // The user's devices count this row's lives differently from the server.
                adjusted = entry.adjustUpload(row.changes, serverLength: try await merger.causalLength(of: row))
                guard !adjusted.isEmpty else { continue }
            }
            try await merger.merge(row, changes: adjusted)
            merged.append(row)
        }

        var denied: [ProtectedRow<Policy>] = []
        var corrections: [ProtectedRow<Policy>] = []
        var deletes: [ProtectedRow<Policy>] = []
        for (row, verdict) in zip(merged, try await merger.finish()) {
            switch verdict {
            case .allowed(let failedRows):
                result.failedRows += failedRows
            case .refused(checked: true):
                denied.append(row)
            case .refused(checked: false) where row.deviceCL % 2 == 1:
                // The device holds a row the server has not (a later delete won here, maybe
                // one this user never saw): bring it back to the truth, unreported.
                corrections.append(row)
            case .refused(checked: false):
                deletes.append(row)
            }
        }
        try await correct(denied + corrections)
        try await recordDeletes(deletes)
        try await flush()
        result.denied = Dictionary(grouping: denied, by: \.policy.tableName)
            .map { DeniedRows(table: $0.key, rows: $0.value.count) }
            .sorted { $0.table < $1.table }
        return result
    }

    /// Returns the devices' copies of rows to the server's truth after their upload was
    /// refused.
    private func correct(_ rows: [ProtectedRow<Policy>]) async throws {
        for (name, tableRows) in Self.byTable(rows) {
            let pks = tableRows.map(\.pk)
            let facts = try await store.facts(tableRows[0].policy, of: .keys(pks))
            let existing = try await entries(table: name, pks: pks)
            for row in tableRows {
                let length = facts[row.pk]?.length ?? 0
                let visible = length % 2 == 1 && (facts[row.pk]?.visible ?? false)
                apply(MirrorEntry.correct(existing[row.pk], length: length, visible: visible, deviceCL: row.deviceCL), table: name, pk: row.pk)
            }
        }
    }

    /// Records, for this user only, deletes the server has no row for (it never had it, or
    /// deleted it already): the user's other devices receive them, and the user's later
    /// uploads from an earlier life of the row are discarded, as every replica of the user
    /// would. They are not stored in the table's clocks, where they could pre-empt a key
    /// another user creates.
    private func recordDeletes(_ rows: [ProtectedRow<Policy>]) async throws {
        for (name, tableRows) in Self.byTable(rows) {
            let existing = try await entries(table: name, pks: tableRows.map(\.pk))
            for row in tableRows {
                guard let transition = MirrorEntry.recordDelete(existing[row.pk], deviceCL: row.deviceCL) else { continue }
                apply(transition, table: name, pk: row.pk)
            }
        }
    }

    /// Rows grouped by table, in table order.
    private static func byTable(_ rows: [ProtectedRow<Policy>]) -> [(key: String, value: [ProtectedRow<Policy>])] {
        Dictionary(grouping: rows, by: \.policy.tableName).sorted { $0.key < $1.key }
    }
}
