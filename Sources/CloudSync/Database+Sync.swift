import CloudSyncCore
import CloudSyncNetwork
import Foundation
import GRDB

/// The algorithm that resolves concurrent writes to the rows of a synchronized table.
public enum SyncAlgorithm: String, Sendable, CaseIterable, Codable {
    /// Causal-length set: adds and deletes alternate by causal length (the default).
    case causalLengthSet = "cls"
    /// Delete wins over a concurrent update.
    case deleteWins = "dws"
    /// Add wins: an update concurrent with a delete keeps the row.
    case addWins = "aws"
    /// Grow-only set: rows are only ever added (local UPDATE and DELETE fail).
    case growOnlySet = "gos"

    var engineValue: CloudSyncCore.SyncAlgorithm {
        switch self {
        case .causalLengthSet: .causalLengthSet
        case .deleteWins: .deleteWins
        case .addWins: .addWins
        case .growOnlySet: .growOnlySet
        }
    }
}

/// Where a database stands with respect to sync, read with ``GRDB/Database/syncState``.
public struct SyncState: Sendable, Equatable {
    /// This database's site id: 32 lowercase hex digits (16 bytes, a UUIDv7), or nil before
    /// any table was synchronized.
    public var siteID: String?
    /// The highest `db_version` recorded by any synchronized table (0 if none).
    public var databaseVersion: Int64
    /// Whether local changes wait to be sent to the server.
    public var hasUnsentChanges: Bool
    /// The synchronized tables, in name order.
    public var synchronizedTables: [String]
    /// The send cursor: the `(db_version, seq)` of the last local change the server accepted.
    public var sendCursor: SyncCursor
    /// The receive cursor: the `(db_version, seq)` of the last server change applied.
    public var receiveCursor: SyncCursor
}

extension Database {
    /// Makes `table` synchronized: from now on every change to its rows is recorded and sent
    /// by ``SyncClient``. Call it in a migration, after creating the table:
    ///
    /// ```swift
    /// migrator.registerMigration("todo") { db in
    ///     try db.create(table: "todo") { t in
    ///         t.primaryKey("id", .text)
    ///         t.column("title", .text).notNull().defaults(to: "")
    ///     }
    ///     try db.enableSync(table: "todo")
    /// }
    /// ```
    ///
    /// Rows already in the table sync like new rows. Enabling a synchronized table again
    /// refreshes its triggers; enabling it with another algorithm fails (call
    /// ``disableSync(table:)`` first). Use `"*"` for every table.
    ///
    /// - Parameters:
    ///   - algorithm: how concurrent writes to a row are resolved.
    ///   - force: accept tables the engine would refuse by default (e.g. an integer primary
    ///     key, which collides between devices).
    ///   - blockText: TEXT columns that merge by lines (or other blocks) instead of as one
    ///     value, so that edits of different lines made on different devices both survive.
    ///     Every device and the server must configure the same columns and delimiters.
    /// - Returns: this database's site id, as hex.
    @discardableResult
    public func enableSync(table: String, algorithm: SyncAlgorithm = .causalLengthSet, force: Bool = false, blockText: [BlockTextColumn] = []) throws(SyncError) -> String {
        let context = try CloudSync.context(self)
        let site: [UInt8]
        do {
            site = try context.initialize(table: table, algorithm: algorithm.engineValue, force: force)
            for column in blockText {
                try context.setColumnSetting(table: table, column: column.name, "algo", .string("block"))
                try context.setColumnSetting(table: table, column: column.name, "delimiter", .string(column.delimiter))
            }
        } catch {
            throw SyncError.wrapping(error)
        }
        // The engine created tables and triggers behind GRDB's back.
        clearSchemaCache()
        return Hex.encode(site)
    }

    /// Stops synchronizing `table` (or every table, for `"*"`, which also drops the engine's
    /// tables): its triggers and clocks go away, its rows stay.
    public func disableSync(table: String) throws(SyncError) {
        let context = try CloudSync.context(self)
        do { try context.cleanup(table: table) } catch { throw SyncError.wrapping(error) }
        clearSchemaCache()
    }

    /// Runs `alter` (an `ALTER TABLE` of a synchronized table, typically in a migration) with
    /// change tracking suspended, then brings the table's sync metadata in line with its new
    /// shape (`cloudsync_begin_alter` / `cloudsync_commit_alter`).
    public func alterSynchronizedTable(_ table: String, _ alter: (Database) throws -> Void) throws(SyncError) {
        let context = try CloudSync.context(self)
        do {
            try context.beginAlter(table: table)
            try alter(self)
            try context.commitAlter(table: table)
        } catch {
            throw SyncError.wrapping(error)
        }
        clearSchemaCache()
    }

    /// The names of the synchronized tables, in name order.
    public var synchronizedTables: [String] {
        get throws(SyncError) {
            let context = try CloudSync.context(self)
            do { return try context.synchronizedTableNames } catch { throw SyncError.wrapping(error) }
        }
    }

    /// This database's site id as 32 hex digits, or nil before any table was synchronized.
    ///
    /// Works on read-only connections (a `DatabasePool` reader) too.
    public var syncSiteID: String? {
        get throws(SyncError) { try rawSiteID().map { Hex.encode($0) } }
    }

    /// The highest `db_version` recorded by any synchronized table: it grows with every
    /// transaction that changes synchronized rows, local or merged.
    public var syncDatabaseVersion: Int64 {
        get throws(SyncError) {
            let context = try CloudSync.context(self)
            do { return try context.databaseVersion() } catch { throw SyncError.wrapping(error) }
        }
    }

    /// Whether this database has local changes the server has not accepted yet.
    public var hasUnsentChanges: Bool {
        get throws(SyncError) {
            // No site id yet: nothing was ever recorded (and a reader must not create one).
            guard try rawSiteID() != nil else { return false }
            return try mappingErrors { try CloudSync.context(self).hasUnsentChanges() }
        }
    }

    /// Everything above in one read.
    public var syncState: SyncState {
        get throws(SyncError) {
            SyncState(
                siteID: try syncSiteID,
                databaseVersion: try syncDatabaseVersion,
                hasUnsentChanges: try hasUnsentChanges,
                synchronizedTables: try synchronizedTables,
                sendCursor: try mappingErrors { try CloudSync.context(self).sendCursor() },
                receiveCursor: try mappingErrors { try CloudSync.context(self).receiveCursor() })
        }
    }

    /// Forgets what was sent and received: the next sync sends every local change and receives
    /// every server change again (merging is idempotent). `cloudsync_network_reset_sync_version`.
    public func resetSyncCursors() throws(SyncError) {
        try mappingErrors { try CloudSync.context(self).resetCursors() }
    }

    // MARK: Internals

    /// The site id read with plain SQL, so that read-only connections can answer (the
    /// engine's own accessor creates it when missing).
    func rawSiteID() throws(SyncError) -> [UInt8]? {
        try mappingErrors {
            guard try hasEngineTable("cloudsync_site_id") else { return nil }
            let data = try Data.fetchOne(self, sql: "SELECT site_id FROM cloudsync_site_id WHERE rowid = 0")
            return data.map { [UInt8]($0) }
        }
    }

    /// Read with plain SQL rather than GRDB's schema cache, which the engine bypasses.
    func hasEngineTable(_ name: String) throws -> Bool {
        try Bool.fetchOne(self, sql: "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [name]) ?? false
    }
}
