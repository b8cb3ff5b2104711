/// Merging changes from other replicas.
extension SyncContext {
    /// The outcome of merging a set of changes.
    public struct MergeReport: Sendable, Equatable {
        /// Changes examined (every change of the payload).
        public var changes = 0
        /// Rows whose changes could not be written (a constraint failed); their clocks were not
        /// stored, so a later delivery can merge them again.
        public var failedRows: [String] = []
        /// `db_version` and `seq` of the last change, in the sender's clock: a receive cursor.
        public var lastDbVersion: Int64 = 0
        public var lastSeq: Int64 = 0
        /// The tables the changes belong to, in order of first appearance.
        public var tables: [String] = []
        /// False for a version-3 fragment payload: its changes are staged or reassembled
        /// out of order, so it must not move a receive cursor (wire-format §8).
        public var movesCursor = true
    }

    /// Decodes `payload` and merges it in one transaction (savepoint). A payload that cannot be
    /// decoded, or was made against an unknown schema, changes nothing.
    @discardableResult
    public func applyPayload(_ payload: [UInt8]) throws(CloudSyncError) -> MergeReport {
        let (header, changes) = try decodeCheckedPayload(payload)
        return header.version == 3 ? try applyFragments(changes) : try merge(changes)
    }

    /// Merges `changes` atomically: all rows are written, or, when one fails on a constraint,
    /// every other row is and the failing ones are reported.
    @discardableResult
    package func merge(_ changes: [Change]) throws(CloudSyncError) -> MergeReport {
        defer { releaseCachedStatements() }
        try refreshTablesIfSchemaChanged()
        let runs = try validatedRuns(changes)
        do throws(CloudSyncError) {
            return try connection.withSavepoint("cloudsync_merge") { () throws(CloudSyncError) in
                try mergeRuns(runs, changes, isolatingFailures: false)
            }
        } catch where error.resultCode.map({ $0 & 0xFF == ResultCode.constraint }) ?? false {
            // Rare path: replay with one savepoint per row so that only failing rows are skipped.
            return try connection.withSavepoint("cloudsync_merge") { () throws(CloudSyncError) in
                try mergeRuns(runs, changes, isolatingFailures: true)
            }
        }
    }

    /// Merges one change inside the caller's statement (an INSERT into `cloudsync_changes`).
    func mergeInPlace(_ change: Change) throws(CloudSyncError) {
        defer { releaseCachedStatements() }
        let runs = try validatedRuns([change])
        _ = try mergeRuns(runs, [change], isolatingFailures: false)
    }

    /// A run: consecutive changes of one row, as index range into the change list.
    struct Run {
        var table: SyncTable
        var range: Range<Int>
    }

    /// Groups consecutive changes by row and refuses, before anything is written, changes for
    /// tables or columns this database does not synchronize.
    private func validatedRuns(_ changes: [Change]) throws(CloudSyncError) -> [Run] {
        var runs: [Run] = []
        var start = 0
        while start < changes.count {
            let first = changes[start]
            guard let table = try table(first.table) else {
                throw CloudSyncError(.unknownTable, "the changes refer to table \(first.table), which is not synchronized here: create it and call cloudsync_init('\(first.table)')")
            }
            var end = start
            while end < changes.count, changes[end].table == first.table, changes[end].pk == first.pk {
                let column = changes[end].column
                if column.utf8.contains(Self.blockSeparator) && table.blockColumn(ofBlockName: column) == nil
                    && !table.droppedColumns.contains(String(column.split(separator: "\u{1F}").first ?? "")) {
                    throw CloudSyncError(.unknownColumn, "the changes hold a block of text column \(column.split(separator: "\u{1F}").first ?? "") of table \(table.name), which is not in block mode here: call cloudsync_set_column('\(table.name)', '\(column.split(separator: "\u{1F}").first ?? "")', 'algo', 'block') on every replica")
                }
                if column != Change.sentinelColumn && table.columnIndex[column] == nil && !table.droppedColumns.contains(column) && !column.utf8.contains(Self.blockSeparator) {
                    throw CloudSyncError(.unknownColumn, "the changes refer to column \(column) of table \(table.name), which it does not have: apply the same schema change here (cloudsync_begin_alter / cloudsync_commit_alter)")
                }
                if changes[end].siteID.count != 16 {
                    throw CloudSyncError(.malformedPayload, "a change for table \(table.name) has a site id of \(changes[end].siteID.count) bytes; site ids have 16")
                }
                end += 1
            }
            runs.append(Run(table: table, range: start..<end))
            start = end
        }
        return runs
    }

    private func mergeRuns(_ runs: [Run], _ changes: [Change], isolatingFailures: Bool) throws(CloudSyncError) -> MergeReport {
        mergeDepth += 1
        defer { mergeDepth -= 1 }
        // Ordinals inserted by a transaction that later rolled back must not be reused.
        siteOrdinals.removeAll()
        let version = try transactionVersion()
        var report = MergeReport(changes: changes.count)
        for run in runs where report.tables.last != run.table.name && !report.tables.contains(run.table.name) {
            report.tables.append(run.table.name)
        }
        if let last = changes.last {
            report.lastDbVersion = last.dbVersion
            report.lastSeq = last.seq
        }
        func mergeRun(_ run: Run, into merger: RowMerger) throws(CloudSyncError) {
            for index in run.range {
                let change = changes[index]
                let slot = run.table.slot(change.column)
                let block = slot == nil ? run.table.blockColumn(ofBlockName: change.column) : nil
                // Validated: a column without a slot that is no block is one that was dropped.
                guard slot != nil || block != nil else { continue }
                let clock = stampsMergesInOrder
                    ? CellClock(colVersion: change.colVersion, dbVersion: version, site: try siteOrdinal(change.siteID), seq: self.clock.takeSeq())
                    : CellClock(colVersion: change.colVersion, dbVersion: max(version, change.dbVersion), site: try siteOrdinal(change.siteID), seq: change.seq)
                let localClock = { CellClock(colVersion: 0, dbVersion: version, site: 0, seq: self.clock.takeSeq()) }
                if let slot {
                    try merger.merge(change, slot: slot, clock: clock, localClock: localClock)
                } else if let block {
                    try mergeBlockChange(change, column: block, table: run.table, merger: merger, clock: clock, localClock: localClock)
                }
            }
            try finishBlocks(run.table, merger: merger)
        }

        if isolatingFailures {
            // One savepoint per row, so that a row failing a constraint is skipped alone.
            for run in runs {
                do throws(CloudSyncError) {
                    try connection.withSavepoint("cloudsync_row") { () throws(CloudSyncError) in
                        let key = changes[run.range.lowerBound].pk
                        let clocks = try run.table.merge.loadClocks(of: [key], connection)
                        let merger = try RowMerger(table: run.table, keyBlob: key, clocks: clocks[KeyBlob(key)] ?? [:], rowIsKnown: clocks[KeyBlob(key)] != nil, connection: connection)
                        try mergeRun(run, into: merger)
                        try merger.flush()
                    }
                } catch where error.resultCode.map({ $0 & 0xFF == ResultCode.constraint }) ?? false {
                    siteOrdinals.removeAll()
                    report.failedRows.append("\(run.table.name): \(error.message)")
                }
            }
            return report
        }

        // Rows are merged in batches: their clocks loaded in one query, their writes made with
        // multi-row statements. A batch holds consecutive runs of one table, each row once.
        var start = 0
        while start < runs.count {
            let table = runs[start].table
            var keys: [[UInt8]] = []
            var seen: Set<KeyBlob> = []
            var end = start
            while end < runs.count, end - start < MergeStatements.batchSize, runs[end].table === table {
                let key = changes[runs[end].range.lowerBound].pk
                guard seen.insert(KeyBlob(key)).inserted else { break }
                keys.append(key)
                end += 1
            }
            let clocks = try table.merge.loadClocks(of: keys, connection)
            var batch = WriteBatch(table: table)
            for (run, key) in zip(runs[start..<end], keys) {
                let merger = try RowMerger(table: table, keyBlob: key, clocks: clocks.isEmpty ? [:] : clocks[KeyBlob(key)] ?? [:], rowIsKnown: clocks[KeyBlob(key)] != nil, connection: connection)
                try mergeRun(run, into: merger)
                if let effects = merger.takeEffects() { batch.add(effects) }
            }
            try batch.write(connection)
            start = end
        }
        return report
    }
}

/// A primary-key blob as a dictionary key, hashed in one pass over its bytes (an array hashes
/// element by element).
struct KeyBlob: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
