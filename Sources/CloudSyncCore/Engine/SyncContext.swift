/// The engine's state for one SQLite connection: which tables are synchronized, the clock of
/// the transaction in progress, cached statements.
///
/// Every SQL function the engine registers works through the `SyncContext` of its connection.
/// Not `Sendable`: a context belongs to one connection, used from one thread at a time.
public final class SyncContext {
    /// The library version, reported by `cloudsync_version()` and written into payload headers.
    public static let version = (major: UInt8(0), minor: UInt8(9), patch: UInt8(0))
    /// The library version as `major.minor.patch`.
    public static var versionString: String { "\(version.major).\(version.minor).\(version.patch)" }

    /// The connection the engine is registered on.
    public let connection: Connection
    /// Limits applied to payloads this connection decodes.
    public var payloadLimits = PayloadLimits.default
    /// How merged changes are stamped in this database's clock.
    ///
    /// Peers stamp a merged change `max(next db_version, its db_version)` with its own `seq`
    /// (crdt-model.md), so merged changes can share a `(db_version, seq)`. A server, whose feed
    /// is read in pages after a `(db_version, seq)` cursor, sets `stampsMergesInOrder`: every
    /// merged change then gets the merge transaction's version and the next local `seq`, so
    /// that pair is unique and follows commit order.
    package var stampsMergesInOrder = false

    var tablesByName: [String: SyncTable] = [:]
    var tablesLoaded = false
    var cachedSiteID: [UInt8]?
    var siteOrdinals: [[UInt8]: Int64] = [:] {
        didSet { if siteOrdinals.isEmpty { lastSite = nil } }
    }
    private var lastSite: (site: [UInt8], ordinal: Int64)?
    var pausedTables: Set<String> = []
    /// Nesting depth of merges in progress; local-write triggers stay quiet while it is > 0.
    var mergeDepth = 0
    var clock = TransactionClock()
    var schemaCookie: Int64 = -1
    var statements: [String: Statement] = [:]

    /// State other modules keep per connection (the network session), by key.
    package var attachments: [String: AnyObject] = [:]

    /// Called when the context goes away (its connection closed).
    var onRelease: (() -> Void)?

    /// A context for `connection`; `CloudSyncEngine.register` makes one and registers the SQL
    /// functions with it.
    public init(connection: Connection) {
        self.connection = connection
    }

    deinit { onRelease?() }

    /// Forgets cached statements and metadata so the host can close the connection; they are
    /// rebuilt on the next use.
    public func releaseResources() {
        for table in tablesByName.values { table.releaseStatements() }
        tablesByName.removeAll()
        tablesLoaded = false
        statements.removeAll()
        siteOrdinals.removeAll()
        cachedSiteID = nil
        clock = TransactionClock()
    }

    /// Finalizes the statements cached for one operation (a merge), so that
    /// nothing stays prepared between calls and the host can close the connection at any time.
    func releaseCachedStatements() {
        statements.removeAll()
        for table in tablesByName.values { table.releaseStatements() }
    }

    /// A cached statement shared by all tables, until `releaseCachedStatements`.
    func statement(_ sql: String) throws(CloudSyncError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let statement = try connection.prepare(sql)
        statements[sql] = statement
        return statement
    }

    // MARK: Tables

    /// The synchronized tables, in name order.
    public var synchronizedTableNames: [String] {
        get throws(CloudSyncError) {
            try loadTablesIfNeeded()
            return tablesByName.values.map(\.name).sorted()
        }
    }

    func loadTablesIfNeeded() throws(CloudSyncError) {
        guard !tablesLoaded else { return }
        tablesByName.removeAll()
        if try hasGlobalTables() {
            let names = try connection.rows(
                "SELECT DISTINCT tbl_name FROM cloudsync_table_settings WHERE key = 'algo'"
            ).compactMap { $0.first?.stringValue }
            for name in names {
                if let table = try loadTable(name) { tablesByName[name.lowercased()] = table }
            }
        }
        tablesLoaded = true
    }

    /// The synchronized table called `name` (case-insensitively), if there is one.
    func table(_ name: String) throws(CloudSyncError) -> SyncTable? {
        try loadTablesIfNeeded()
        return tablesByName[name.lowercased()]
    }

    func requireTable(_ name: String) throws(CloudSyncError) -> SyncTable {
        guard let table = try table(name) else {
            throw CloudSyncError(.unknownTable, "table \(name) is not synchronized: call cloudsync_init('\(name)') first")
        }
        return table
    }

    /// Reads a table's shape from the schema and its settings from `cloudsync_table_settings`.
    func loadTable(_ name: String) throws(CloudSyncError) -> SyncTable? {
        let info = try TableShape.read(name, on: connection)
        guard let info else { return nil }
        let algorithmName = try connection.scalar(
            "SELECT value FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = '*' AND key = 'algo'",
            [.string(name)]
        )?.stringValue ?? "cls"
        let dropped = try connection.rows(
            "SELECT col_name FROM cloudsync_table_settings WHERE tbl_name = ?1 AND key = 'dropped'",
            [.string(name)]
        ).compactMap { $0.first?.stringValue }
        let columns = info.columns.map(\.name)
        return SyncTable(
            name: info.name,
            primaryKey: info.primaryKey,
            columns: columns,
            algorithm: SyncAlgorithm(name: algorithmName) ?? .causalLengthSet,
            droppedColumns: Set(dropped),
            blockColumns: try loadBlockColumns(info.name, columns: columns),
            filter: try rowFilter(of: info.name)
        )
    }

    func hasGlobalTables() throws(CloudSyncError) -> Bool {
        try connection.scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('cloudsync_settings', 'cloudsync_site_id', 'cloudsync_table_settings', 'cloudsync_schema_versions')"
        )?.integerValue == 4
    }

    // MARK: Tracking state

    /// True while local writes to `table` must not be recorded: during a merge, or while the
    /// table's tracking is paused on this connection.
    func isQuiet(_ table: String) -> Bool {
        if mergeDepth > 0 { return true }
        if pausedTables.isEmpty { return false }
        return pausedTables.contains(table.lowercased()) || pausedTables.contains("*")
    }

    // MARK: Site ids

    /// This database's site id, created on first use.
    public func siteID() throws(CloudSyncError) -> [UInt8] {
        if let cachedSiteID { return cachedSiteID }
        // Read-only when the site id exists, so reader connections never write.
        if try hasGlobalTables(),
           case .blob(let bytes)? = try connection.scalar("SELECT site_id FROM cloudsync_site_id WHERE rowid = 0"), bytes.count == 16 {
            cachedSiteID = bytes
            return bytes
        }
        try ensureGlobalTables()
        let fresh = UUIDv7.generate()
        try connection.run("INSERT INTO cloudsync_site_id(rowid, site_id) VALUES (0, ?1)", [.blob(fresh)])
        cachedSiteID = fresh
        return fresh
    }

    /// The ordinal under which `site` is stored in clock rows (0 for this database).
    func siteOrdinal(_ site: [UInt8]) throws(CloudSyncError) -> Int64 {
        // Most changes of a payload come from one site: skip hashing for a repeat.
        if let last = lastSite, last.site == site { return last.ordinal }
        let ordinal = try lookUpSiteOrdinal(site)
        lastSite = (site, ordinal)
        return ordinal
    }

    private func lookUpSiteOrdinal(_ site: [UInt8]) throws(CloudSyncError) -> Int64 {
        if let known = siteOrdinals[site] { return known }
        if site == (try siteID()) {
            siteOrdinals[site] = 0
            return 0
        }
        let lookup = try statement("SELECT rowid FROM cloudsync_site_id WHERE site_id = ?1")
        _ = lookup.bindBlob(site, at: 1)
        var ordinal: Int64
        if try lookup.step() {
            ordinal = lookup.int64(at: 0)
            lookup.reset()
        } else {
            lookup.reset()
            let insert = try statement("INSERT INTO cloudsync_site_id(site_id) VALUES (?1) RETURNING rowid")
            _ = insert.bindBlob(site, at: 1)
            _ = try insert.step()
            ordinal = insert.int64(at: 0)
            insert.reset()
        }
        siteOrdinals[site] = ordinal
        return ordinal
    }
}
