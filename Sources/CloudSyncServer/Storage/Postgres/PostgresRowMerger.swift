import CloudSyncCore
import Logging
import PostgresNIO

/// Merges a token user's protected rows on PostgreSQL: each row is merged on the upload's
/// scratch replica and checked in PostgreSQL against the write policy of what happened to it,
/// many rows per query; a refused row is put back on the replica and never written.
///
/// A check reads what the rows before it left: those of the tables it reads are decided (and
/// written) before it is queued. A check that reads its own table sees the row as merged (as
/// on SQLite, where the row is written before it is checked): it is written in a savepoint
/// and checked alone, undone if refused.
///
/// Runs in the merge's transaction, after `cloudsync_stamp` gave it `version`, with every
/// touched row loaded into `replica` (`loaded`: as PostgreSQL has them). Not `Sendable`.
final class PostgresRowMerger: ProtectedRowMerger {
    private typealias Row = ProtectedRow<PostgresTablePolicy>

    /// A merged row waiting for its check.
    private struct PendingCheck {
        var row: Row
        /// Nil when the row exists neither before nor after: refused without a check.
        var images: RowImages?
        var failedRows: [String]
        /// Already written to PostgreSQL (in a savepoint) for its own check.
        var written: Bool
    }

    private let keys: [String: [[UInt8]: [SQLValue]]]
    private let loaded: [String: [[UInt8]: ScratchReplica.RowState]]
    private let replica: ScratchReplica
    private let version: Int64
    private let database: PostgresDatabase
    private let connection: PostgresConnection
    private let logger: Logger
    /// Writes not yet in PostgreSQL, by lowercased table; a check that reads a table sees its
    /// writes.
    private var writers: [String: PostgresRowWriter] = [:]
    private var pending: [PendingCheck] = []
    private var verdicts: [RowVerdict] = []

    init(
        keys: [String: [[UInt8]: [SQLValue]]], loaded: [String: [[UInt8]: ScratchReplica.RowState]], replica: ScratchReplica,
        version: Int64, database: PostgresDatabase, connection: PostgresConnection, logger: Logger
    ) throws {
        self.keys = keys
        self.loaded = loaded
        self.replica = replica
        self.version = version
        self.database = database
        self.connection = connection
        self.logger = logger
        try replica.beginSteps(version: version)
    }

    private func write(_ table: PostgresTable, key: [SQLValue], pk: [UInt8]) throws {
        let before = loaded[table.name]?[pk] ?? ScratchReplica.RowState(values: nil, clocks: [:])
        let after = try replica.state(of: table, key: key)
        guard before != after else { return }
        writers[table.name.lowercased(), default: PostgresRowWriter(table: table, database: database)].add(key: key, from: before, to: after)
    }

    /// Writes the pending writes of `tables` (lowercased), or of all tables.
    private func flush(_ tables: Set<String>?) async throws {
        for (name, writer) in writers where tables?.contains(name) ?? true {
            try await writer.flush(connection, logger: logger)
            writers[name] = nil
        }
    }

    func mergeUnprotected(_ changes: [Change]) throws -> [String] {
        guard !changes.isEmpty else { return [] }
        let failedRows = try replica.context.merge(changes).failedRows
        var seen: Set<String> = []
        for change in changes where seen.insert(change.table.lowercased() + ":" + Hex.encode(change.pk)).inserted {
            guard let table = database.table(change.table), let key = keys[table.name]?[change.pk] else { continue }
            try write(table, key: key, pk: change.pk)
        }
        return failedRows
    }

    func causalLength(of row: ProtectedRow<PostgresTablePolicy>) throws -> Int64 {
        try replica.context.causalLength(table: row.policy.table.name, pk: row.pk)
    }

    func merge(_ row: ProtectedRow<PostgresTablePolicy>, changes: [Change]) async throws {
        let table = row.policy.table
        let reads = row.policy.writeDependencies
        let readsItself = reads.contains(table.name.lowercased())
        if readsItself ? !pending.isEmpty : pending.contains(where: { reads.contains($0.row.policy.table.name.lowercased()) }) {
            try await resolve()
        }
        let before = loaded[table.name]?[row.pk]?.values
        let failedRows = try replica.context.merge(changes).failedRows
        let after = try replica.state(of: table, key: row.key).values
        pending.append(PendingCheck(row: row, images: RowImages(before: before, after: after), failedRows: failedRows, written: readsItself))
        if readsItself {
            // What was decided before is written outside the savepoint.
            try await flush(nil)
            try write(table, key: row.key, pk: row.pk)
            try await connection.query("SAVEPOINT cloudsync_row", logger: logger)
            try await flush(nil)
            if try await !resolve() {
                try await connection.query("ROLLBACK TO SAVEPOINT cloudsync_row", logger: logger)
            }
            try await connection.query("RELEASE SAVEPOINT cloudsync_row", logger: logger)
        }
    }

    func finish() async throws -> [RowVerdict] {
        try await resolve()
        try await flush(nil)
        try replica.commitSteps()
        try await PostgresStorage.recordLastSeq(replica, version: version, database: database, connection: connection, logger: logger)
        defer { verdicts = [] }
        return verdicts
    }

    /// Checks the pending rows, many per query; returns whether the last one was allowed.
    @discardableResult
    private func resolve() async throws -> Bool {
        let checked = pending.indices.filter { pending[$0].images != nil }
        try await flush(checked.reduce(into: Set<String>()) { $0.formUnion(pending[$1].row.policy.writeDependencies) })
        var allowed: Set<Int> = []
        for (_, indices) in Dictionary(grouping: checked, by: { "\(pending[$0].row.policy.table.name)\u{0}\(pending[$0].images!.operation)" }) {
            let policy = pending[indices[0]].row.policy
            guard let write = policy.writes[pending[indices[0]].images!.operation] else { continue }
            let perQuery = max(1, PostgresRowWriter.maxParameters / policy.checkWidth(write))
            for start in stride(from: 0, to: indices.count, by: perQuery) {
                let chunk = indices[start..<min(indices.count, start + perQuery)]
                var binds = PostgresBindings()
                for index in chunk {
                    let images = pending[index].images!
                    try policy.bind(write, index: index, bare: images.bare, new: images.new, old: images.old, into: &binds)
                }
                for row in try await connection.query(PostgresQuery(unsafeSQL: policy.checkSQL(write, rows: chunk.count), binds: binds), logger: logger).collect() {
                    let (index, ok) = try row.decode((Int64, Bool).self)
                    if ok { allowed.insert(Int(index)) }
                }
            }
        }
        for (index, item) in pending.enumerated() {
            let row = item.row
            if allowed.contains(index) {
                verdicts.append(.allowed(failedRows: item.failedRows))
                if !item.written { try write(row.policy.table, key: row.key, pk: row.pk) }
                continue
            }
            try replica.restore(row.policy.table, key: row.key, loaded[row.policy.table.name]?[row.pk] ?? ScratchReplica.RowState(values: nil, clocks: [:]))
            verdicts.append(.refused(checked: item.images != nil))
        }
        let lastAllowed = allowed.contains(pending.count - 1)
        pending = []
        return lastAllowed
    }
}
