import CloudSyncCore
import Logging
import NIOCore
import PostgresNIO

/// Row-Level Security on PostgreSQL: a token user's uploads merged under the policies, and
/// their downloads filtered (docs/postgres.md, "Row-Level Security"). The rules are those of
/// the embedded storage (`GuardedMerge`, `FilteredFeed`), sharing `MirrorEntry` and
/// `FilteredPageBuilder`; the checks are PostgreSQL queries.
extension PostgresStorage {
    private typealias RowGroup = ProtectedRow<PostgresTablePolicy>

    /// A merged row waiting for its check.
    private struct PendingCheck {
        struct Images {
            var operation: CompiledTablePolicy.Operation
            var bare: [SQLValue]
            var new: [SQLValue]?
            var old: [SQLValue]?
        }

        var group: RowGroup
        /// Nil when the row exists neither before nor after: refused without a check.
        var check: Images?
        var failedRows: [String]
        /// Already written to PostgreSQL (in a savepoint) for its own check.
        var written = false
    }

    /// Merges a token user's upload, as `GuardedMerge` does: changes of unprotected tables
    /// merge as usual; each protected row is merged on the replica, checked in PostgreSQL
    /// against the policy of what happened to it (many rows per query), and put back if
    /// refused. Refused rows are corrected on the user's devices through their outbox.
    ///
    /// Runs in the merge's transaction, after `cloudsync_stamp` gave it `version`, with every
    /// touched row loaded into `replica` (`loaded`: as PostgreSQL has them).
    static func guardedMerge(
        _ changes: [Change], keys: [String: [[UInt8]: [SQLValue]]], loaded: [String: [[UInt8]: ScratchReplica.RowState]],
        replica: ScratchReplica, version: Int64, visibility: PostgresRowVisibility, connection: PostgresConnection, logger: Logger
    ) async throws -> MergeResult {
        let database = visibility.database
        let (open, groups) = try ProtectedRow.partition(changes, policy: visibility.policy(for:), table: \.table.name)

        // Writes not yet in PostgreSQL, by table; a check that reads a table sees its writes.
        var writers: [String: PostgresRowWriter] = [:]
        func write(_ table: PostgresTable, key: [SQLValue], pk: [UInt8]) throws {
            let before = loaded[table.name]?[pk] ?? ScratchReplica.RowState(values: nil, clocks: [:])
            let after = try replica.state(of: table, key: key)
            guard before != after else { return }
            writers[table.name.lowercased(), default: PostgresRowWriter(table: table, database: database)].add(key: key, from: before, to: after)
        }
        func flush(_ tables: Set<String>?) async throws {
            for (name, writer) in writers where tables?.contains(name) ?? true {
                try await writer.flush(connection, logger: logger)
                writers[name] = nil
            }
        }

        var result = MergeResult(changes: changes.count)
        var denied: [RowGroup] = []
        var corrections: [RowGroup] = []
        var deletes: [RowGroup] = []
        try await replica.mergeInSteps(version: version) {
            if !open.isEmpty {
                result.failedRows += try replica.context.merge(open).failedRows
                var seen: Set<String> = []
                for change in open where seen.insert(change.table.lowercased() + ":" + Hex.encode(change.pk)).inserted {
                    guard let table = database.table(change.table), let key = keys[table.name]?[change.pk] else { continue }
                    try write(table, key: key, pk: change.pk)
                }
            }
            var entries: [String: [[UInt8]: MirrorEntry]] = [:]
            for (name, pks) in Dictionary(grouping: groups, by: { $0.policy.table.name }).mapValues({ $0.map(\.pk) }) {
                entries[name] = try await visibility.entries(table: name, pks: pks)
            }
            // Merged rows wait here for their checks, which run many rows per query.
            var pending: [PendingCheck] = []
            /// Checks the pending rows; returns whether the last one was allowed.
            @discardableResult
            func resolve() async throws -> Bool {
                let checked = pending.indices.filter { pending[$0].check != nil }
                try await flush(checked.reduce(into: Set<String>()) { $0.formUnion(pending[$1].group.policy.writeDependencies) })
                var allowed: Set<Int> = []
                for (_, indices) in Dictionary(grouping: checked, by: { "\(pending[$0].group.policy.table.name)\u{0}\(pending[$0].check!.operation)" }) {
                    let policy = pending[indices[0]].group.policy
                    guard let write = policy.writes[pending[indices[0]].check!.operation] else { continue }
                    let perQuery = max(1, PostgresRowWriter.maxParameters / policy.checkWidth(write))
                    for start in stride(from: 0, to: indices.count, by: perQuery) {
                        let chunk = indices[start..<min(indices.count, start + perQuery)]
                        var binds = PostgresBindings()
                        for index in chunk {
                            let check = pending[index].check!
                            try policy.bind(write, index: index, bare: check.bare, new: check.new, old: check.old, into: &binds)
                        }
                        for row in try await connection.query(PostgresQuery(unsafeSQL: policy.checkSQL(write, rows: chunk.count), binds: binds), logger: logger).collect() {
                            let (index, ok) = try row.decode((Int64, Bool).self)
                            if ok { allowed.insert(Int(index)) }
                        }
                    }
                }
                for (index, item) in pending.enumerated() {
                    let group = item.group
                    if allowed.contains(index) {
                        result.failedRows += item.failedRows
                        if !item.written { try write(group.policy.table, key: group.key, pk: group.pk) }
                        continue
                    }
                    try replica.restore(group.policy.table, key: group.key, loaded[group.policy.table.name]?[group.pk] ?? ScratchReplica.RowState(values: nil, clocks: [:]))
                    if item.check != nil {
                        denied.append(group)
                    } else if group.deviceCL % 2 == 1 {
                        // The device holds a row the server has not (a later delete won here,
                        // maybe one this user never saw): bring it back to the truth, unreported.
                        corrections.append(group)
                    } else {
                        deletes.append(group)
                    }
                }
                let lastAllowed = allowed.contains(pending.count - 1)
                pending = []
                return lastAllowed
            }

            for group in groups {
                let table = group.policy.table
                var adjusted = group.changes
                if let entry = entries[table.name]?[group.pk] {
                    // The user's devices count this row's lives differently from the server.
                    adjusted = entry.adjustUpload(group.changes, serverLength: try replica.context.causalLength(table: table.name, pk: group.pk))
                    guard !adjusted.isEmpty else { continue }
                }
                // A check reads what the rows before it left: those of the tables it reads
                // must be decided (and written) first. A check of a row written for it (below)
                // goes alone, so that no earlier row's check sees that row.
                let reads = group.policy.writeDependencies
                let readsItself = reads.contains(table.name.lowercased())
                if readsItself ? !pending.isEmpty : pending.contains(where: { reads.contains($0.group.policy.table.name.lowercased()) }) {
                    try await resolve()
                }
                let before = loaded[table.name]?[group.pk]?.values
                let failedRows = try replica.context.merge(adjusted).failedRows
                let after = try replica.state(of: table, key: group.key).values
                let check: PendingCheck.Images? = switch (before, after) {
                case (nil, nil): nil
                case (nil, let new?): .init(operation: .insert, bare: new, new: new, old: nil)
                case (let old?, let new?): .init(operation: .update, bare: new, new: new, old: old)
                case (let old?, nil): .init(operation: .delete, bare: old, new: nil, old: old)
                }
                pending.append(PendingCheck(group: group, check: check, failedRows: failedRows, written: readsItself))
                if readsItself {
                    // A check that reads its own table sees the row as merged (as on SQLite,
                    // where the row is written before it is checked): written in a savepoint,
                    // undone if refused. What was decided before is written outside it.
                    try await flush(nil)
                    try write(table, key: group.key, pk: group.pk)
                    try await connection.query("SAVEPOINT cloudsync_row", logger: logger)
                    try await flush(nil)
                    if try await !resolve() {
                        try await connection.query("ROLLBACK TO SAVEPOINT cloudsync_row", logger: logger)
                    }
                    try await connection.query("RELEASE SAVEPOINT cloudsync_row", logger: logger)
                }
            }
            try await resolve()
        }
        try await flush(nil)
        try await recordLastSeq(replica, version: version, database: database, connection: connection, logger: logger)

        for (name, rows) in Dictionary(grouping: denied + corrections, by: { $0.policy.table.name }) {
            let policy = rows[0].policy
            let facts = try await visibility.facts(policy, pks: rows.map(\.pk))
            let existing = try await visibility.entries(table: name, pks: rows.map(\.pk))
            for group in rows {
                let length = try replica.context.causalLength(table: name, pk: group.pk)
                let visible = length % 2 == 1 && (facts[group.pk]?.visible ?? false)
                visibility.apply(MirrorEntry.correct(existing[group.pk], length: length, visible: visible, deviceCL: group.deviceCL), table: name, pk: group.pk)
            }
        }
        for (name, rows) in Dictionary(grouping: deletes, by: { $0.policy.table.name }) {
            let existing = try await visibility.entries(table: name, pks: rows.map(\.pk))
            for group in rows {
                guard let transition = MirrorEntry.recordDelete(existing[group.pk], deviceCL: group.deviceCL) else { continue }
                visibility.apply(transition, table: name, pk: group.pk)
            }
        }
        try await visibility.flush()
        result.denied = Dictionary(grouping: denied, by: { $0.policy.table.name })
            .map { DeniedRows(table: $0.key, rows: $0.value.count) }
            .sorted { $0.table < $1.table }
        return result
    }

    /// Changes read per table and step while building a filtered page of `limit` changes:
    /// the page, unless it is very large (most changes may be filtered out).
    static func filteredChunk(limit: Int) -> Int {
        max(200, min(limit, 5000))
    }

    /// A token user's filtered page (`FilteredPageBuilder`), read in the caller's transaction
    /// after `visibility.refresh()`.
    static func filteredPage(_ visibility: PostgresRowVisibility, excluding site: SiteID, after cursor: SyncCursor, limit: Int, connection: PostgresConnection, logger: Logger) async throws -> ChangesPage? {
        let database = visibility.database
        let (events, complete) = try await visibility.outbox(after: cursor, limit: limit)
        var source = PrefetchedPageSource(protected: Set(visibility.policies.keys))
        for (name, tableEvents) in Dictionary(grouping: events, by: \.table) {
            guard let table = database.table(name) else { continue }
            let pks = tableEvents.map(\.pk)
            source.entries[table.name, default: [:]].merge(try await visibility.entries(table: table.name, pks: pks)) { $1 }
            let shown = tableEvents.filter { $0.event.kind == .show }.map(\.pk)
            source.rows[table.name, default: [:]].merge(try await rowChanges(table, database: database, pks: shown, connection: connection, logger: logger)) { $1 }
        }

        var builder = FilteredPageBuilder(events: events, complete: complete, site: site, serverSite: database.siteID, limit: limit)
        var position = cursor
        var feedEnded = false
        let chunk = filteredChunk(limit: limit)
        reading: while true {
            var changes: [Change] = []
            var exhausted = true
            for table in database.schema.tables {
                let some = try await feed(table, database: database, excluding: site, after: position, limit: chunk, connection: connection, logger: logger)
                if some.count == chunk { exhausted = false }
                changes += some
            }
            changes.sort(by: feedOrder)
            // With every table read up to the chunk, the first chunk of their union is the
            // first chunk of the feed.
            if !exhausted { changes = Array(changes.prefix(chunk)) }
            for (name, rows) in Dictionary(grouping: changes.filter { source.isProtected($0.table) }, by: \.table) {
                source.entries[name, default: [:]].merge(try await visibility.entries(table: name, pks: rows.map(\.pk))) { $1 }
            }
            for change in changes {
                guard try builder.offer(change, source) else { break reading }
            }
            guard !exhausted, let last = changes.last else {
                feedEnded = true
                break
            }
            position = SyncCursor(dbVersion: last.dbVersion, seq: last.seq)
        }
        if feedEnded, let at = try builder.endOfFeed(source) {
            for candidate in try await visibility.someEntries() {
                guard let table = database.table(candidate.table) else { continue }
                let changes = candidate.entry.mirrored
                    ? try await rowChanges(table, database: database, pks: [candidate.pk], connection: connection, logger: logger)[candidate.pk] ?? []
                    : []
                if let carrier = FilteredPageBuilder.carrier(table: table.name, pk: candidate.pk, entry: candidate.entry, rowChanges: changes, serverSite: database.siteID) {
                    builder.addCarrier(carrier, at: at)
                    break
                }
            }
        }
        return builder.finish(schemaHash: database.schema.schemaHash)
    }

    /// The current changes of rows `pks` of `table`, by pk, in feed order.
    static func rowChanges(_ table: PostgresTable, database: PostgresDatabase, pks: [[UInt8]], connection: PostgresConnection, logger: Logger) async throws -> [[UInt8]: [Change]] {
        var result: [[UInt8]: [Change]] = [:]
        let keyList = "(" + table.key.indices.map { "c.k\($0 + 1)" }.joined(separator: ", ") + ")"
        for start in stride(from: 0, to: pks.count, by: loadBatch) {
            var binds = PostgresBindings()
            let values = try table.keyValues(pks[start..<min(pks.count, start + loadBatch)].map { try PrimaryKeyCodec.decode($0) }, into: &binds)
            for change in try await clockChanges(table, database: database, where: "\(keyList) IN (\(values))", binds: binds, connection: connection, logger: logger) {
                result[change.pk, default: []].append(change)
            }
        }
        return result
    }
}

/// What a filtered page reads, fetched from PostgreSQL before the builder asks.
struct PrefetchedPageSource: FilteredPageSource {
    /// Lowercased names of the protected tables.
    var protected: Set<String>
    var entries: [String: [[UInt8]: MirrorEntry]] = [:]
    var rows: [String: [[UInt8]: [Change]]] = [:]

    func isProtected(_ table: String) -> Bool {
        protected.contains(table.lowercased())
    }

    func entry(table: String, pk: [UInt8]) throws(CloudSyncError) -> MirrorEntry? {
        entries[table]?[pk]
    }

    func rowChanges(table: String, pk: [UInt8]) throws(CloudSyncError) -> [Change] {
        rows[table]?[pk] ?? []
    }
}
