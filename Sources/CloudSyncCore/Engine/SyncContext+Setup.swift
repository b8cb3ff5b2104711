extension SyncContext {
    /// Creates the engine's global tables if they are missing.
    func ensureGlobalTables() throws(CloudSyncError) {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS cloudsync_settings (key TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, value TEXT);
            CREATE TABLE IF NOT EXISTS cloudsync_site_id (site_id BLOB UNIQUE NOT NULL);
            CREATE TABLE IF NOT EXISTS cloudsync_table_settings (tbl_name TEXT NOT NULL COLLATE NOCASE, col_name TEXT NOT NULL COLLATE NOCASE, key TEXT, value TEXT, PRIMARY KEY(tbl_name, col_name, key));
            CREATE TABLE IF NOT EXISTS cloudsync_schema_versions (hash INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
            INSERT OR REPLACE INTO cloudsync_settings(key, value) VALUES ('version', '\(Self.versionString)');
            """)
    }

    /// `initialize(table:algorithm:flags:)` with the 0.8 `force` argument: `true` accepts a
    /// single INTEGER primary key.
    @discardableResult
    public func initialize(table name: String, algorithm: SyncAlgorithm = .causalLengthSet, force: Bool) throws(CloudSyncError) -> [UInt8] {
        try initialize(table: name, algorithm: algorithm, flags: force ? .allowIntegerPrimaryKey : [])
    }

    /// Makes `name` (or every user table, for `*`) synchronized, skipping the checks `flags`
    /// names; returns the site id.
    ///
    /// Idempotent: initializing a synchronized table again refreshes its triggers. The flags a
    /// table was accepted with are remembered, so later re-initializations and
    /// `commitAlter` accept it again.
    @discardableResult
    public func initialize(table name: String, algorithm: SyncAlgorithm = .causalLengthSet, flags: InitFlags = []) throws(CloudSyncError) -> [UInt8] {
        let unknown = flags.subtracting(.known)
        guard unknown.isEmpty else {
            throw CloudSyncError(.misuse, "cloudsync_init: unknown init flags \(unknown.rawValue); the flags are 1 (integer primary key), 2 (NOT NULL without DEFAULT) and 4 (ignored)")
        }
        return try connection.withSavepoint("cloudsync_init") { () throws(CloudSyncError) in
            try ensureGlobalTables()
            let site = try siteID()
            let names = name == "*" ? try userTableNames() : [name]
            for table in names {
                // '*' keeps the algorithm of tables that are already synchronized.
                let current = name == "*" ? try self.table(table)?.algorithm : nil
                try initializeOne(table, algorithm: current ?? algorithm, flags: flags)
            }
            try recordSchemaHash()
            return site
        }
    }

    private func initializeOne(_ name: String, algorithm: SyncAlgorithm, flags: InitFlags) throws(CloudSyncError) {
        guard let shape = try TableShape.read(name, on: connection) else {
            throw CloudSyncError(.unknownTable, "table \(name) does not exist: create it before calling cloudsync_init")
        }
        if shape.name.hasPrefix("cloudsync_") || shape.name.hasSuffix("_cloudsync") || shape.name.lowercased().hasPrefix("sqlite_") {
            throw CloudSyncError(.misuse, "table \(shape.name) is internal and cannot be synchronized")
        }
        let existing = try connection.scalar(
            "SELECT value FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = '*' AND key = 'algo'",
            [.string(shape.name)])?.stringValue
        if let existing, SyncAlgorithm(name: existing) != algorithm {
            throw CloudSyncError(.misuse, "table \(shape.name) is already synchronized with algorithm \(existing); call cloudsync_cleanup('\(shape.name)') first to change it")
        }
        // A table accepted once (perhaps with flags) stays accepted when initialized again.
        let accepted = flags.union(try storedInitFlags(shape.name) ?? (existing != nil ? .allowIntegerPrimaryKey : []))
        try shape.validateForSync(skipping: accepted)
        if !accepted.isEmpty {
            try connection.run(
                "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, '*', 'init_flags', ?2)",
                [.string(shape.name), .integer(accepted.rawValue)])
        }
        // The name as given, as 0.8 stores it: the text schema hash includes the table only when
        // it matches the created name exactly (wire-format §11).
        try connection.run(
            "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, '*', 'algo', ?2)",
            [.string(name), .string(algorithm.rawValue)])
        let clockTable = SQLText.identifier(shape.name + "_cloudsync")
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS \(clockTable) (pk BLOB NOT NULL, col_name TEXT NOT NULL, col_version INTEGER, db_version INTEGER, site_id INTEGER DEFAULT 0, seq INTEGER, PRIMARY KEY(pk, col_name)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS \(SQLText.identifier(shape.name + "_cloudsync_db_idx")) ON \(clockTable)(db_version, seq);
            """)
        invalidateTables()
        let table = try requireTable(shape.name)
        try TriggerSet(table: table).install(on: connection)
        try backfill(table)
    }

    /// Names of all user tables that could be synchronized.
    func userTableNames() throws(CloudSyncError) -> [String] {
        try connection.rows("""
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
              AND name NOT LIKE 'cloudsync\\_%' ESCAPE '\\' AND name NOT LIKE '%\\_cloudsync' ESCAPE '\\' ORDER BY name
            """).compactMap { $0.first?.stringValue }
    }

    /// The checks `table` was accepted without (`cloudsync_init`'s flags), if any were skipped.
    func storedInitFlags(_ table: String) throws(CloudSyncError) -> InitFlags? {
        try connection.scalar(
            "SELECT CAST(value AS INTEGER) FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = '*' AND key = 'init_flags'",
            [.string(table)])?.integerValue.map(InitFlags.init(rawValue:))
    }

    func invalidateTables() {
        for table in tablesByName.values { table.releaseStatements() }
        tablesByName.removeAll()
        tablesLoaded = false
        statements.removeAll()
    }

    /// Stops synchronizing `name` (or every table, for `*`, which also drops the global tables).
    public func cleanup(table name: String) throws(CloudSyncError) {
        try connection.withSavepoint("cloudsync_cleanup") { () throws(CloudSyncError) in
            guard try hasGlobalTables() else { return }
            let names = name == "*" ? try synchronizedTableNames : [try requireTable(name).name]
            // Versions must never go backwards, or new changes would hide behind send cursors.
            try setSetting(EngineSetting.versionFloor, .integer(try databaseVersion()))
            for table in names {
                try TriggerSet.drop(table: table, on: connection)
                try connection.execute("DROP TABLE IF EXISTS \(SQLText.identifier(table + "_cloudsync")); DROP TABLE IF EXISTS \(SQLText.identifier(table + "_cloudsync_blocks"))")
                try connection.run("DELETE FROM cloudsync_table_settings WHERE tbl_name = ?1", [.string(table)])
                pausedTables.remove(table.lowercased())
            }
            invalidateTables()
            if name == "*" {
                try connection.execute("""
                    DROP TABLE IF EXISTS cloudsync_settings; DROP TABLE IF EXISTS cloudsync_site_id;
                    DROP TABLE IF EXISTS cloudsync_table_settings; DROP TABLE IF EXISTS cloudsync_schema_versions;
                    """)
                releaseResources()
            } else {
                try recordSchemaHash()
            }
        }
    }

    /// Pauses (`enabled == false`) or resumes change tracking of `name` (or `*`) on this
    /// connection. Writes made while paused are never synchronized.
    public func setTracking(_ enabled: Bool, table name: String) throws(CloudSyncError) {
        let key = name == "*" ? "*" : try requireTable(name).name.lowercased()
        if enabled {
            if key == "*" { pausedTables.removeAll() } else { pausedTables.remove(key) }
        } else {
            pausedTables.insert(key)
        }
    }

    /// Whether `name` is synchronized and its tracking is not paused on this connection.
    public func isTracking(table name: String) throws(CloudSyncError) -> Bool {
        guard let table = try table(name) else { return false }
        return !pausedTables.contains(table.name.lowercased()) && !pausedTables.contains("*")
    }

    // MARK: Settings

    /// Stores `value` under `key` in `cloudsync_settings`, the table `cloudsync_set` writes.
    public func setSetting(_ key: String, _ value: SQLValue) throws(CloudSyncError) {
        try ensureGlobalTables()
        try connection.run("INSERT OR REPLACE INTO cloudsync_settings(key, value) VALUES (?1, ?2)", [.string(key), value])
    }

    /// The value stored under `key` in `cloudsync_settings`, or nil.
    public func setting(_ key: String) throws(CloudSyncError) -> SQLValue? {
        guard try hasGlobalTables() else { return nil }
        return try connection.scalar("SELECT value FROM cloudsync_settings WHERE key = ?1", [.string(key)])
    }

    /// A setting read as an integer (settings are stored as TEXT).
    public func integerSetting(_ key: String) throws(CloudSyncError) -> Int64? {
        guard try hasGlobalTables() else { return nil }
        return try connection.scalar("SELECT CAST(value AS INTEGER) FROM cloudsync_settings WHERE key = ?1", [.string(key)])?.integerValue
    }

    /// Stores a setting of one table (or one of its columns) in `cloudsync_table_settings`, as
    /// `cloudsync_set_table` and `cloudsync_set_column` do.
    public func setTableSetting(table: String, column: String = "*", _ key: String, _ value: SQLValue) throws(CloudSyncError) {
        let synced = try requireTable(table)
        if column != "*" && synced.columnIndex[column] == nil && !synced.primaryKey.contains(column) {
            throw CloudSyncError(.unknownColumn, "table \(synced.name) has no column \(column)")
        }
        if key.lowercased() == "algo" {
            throw CloudSyncError(.misuse, "the algorithm is chosen by cloudsync_init(table, algo); clean the table up to change it")
        }
        try connection.run(
            "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, ?2, ?3, ?4)",
            [.string(synced.name), .string(column), .string(key), value])
    }

    /// Deletes every row of the synchronized tables without recording the deletes, drops all
    /// clocks and known sites, and gives this database a new site id: the next user of the
    /// device starts from nothing (`cloudsync_network_logout`).
    public func resetLocalData() throws(CloudSyncError) {
        try connection.withSavepoint("cloudsync_reset") { () throws(CloudSyncError) in
            mergeDepth += 1
            defer { mergeDepth -= 1 }
            for name in try synchronizedTableNames {
                let table = try requireTable(name)
                try connection.execute("DELETE FROM \(table.quotedName); DELETE FROM \(table.clockTable)")
            }
            try connection.execute("DELETE FROM cloudsync_site_id; DELETE FROM cloudsync_settings WHERE key = '\(EngineSetting.versionFloor)'")
            cachedSiteID = nil
            siteOrdinals.removeAll()
            _ = try siteID()
        }
    }

    // MARK: Schema hash

    /// The schema hash of the synchronized tables as they are now (wire-format §5 and §11).
    ///
    /// The statements are joined in `sqlite_master` order, which is creation order (an
    /// `ALTER TABLE` keeps a table's place), and a table belongs to the text only when the name
    /// `cloudsync_init` was given matches its stored name exactly: both as 0.8 clients compute
    /// the hash, so that they recognise the payloads this database writes.
    public func currentSchemaHash() throws(CloudSyncError) -> UInt64 {
        let text = try connection.rows("""
            SELECT lower(sql) FROM sqlite_master WHERE type = 'table'
              AND name IN (SELECT tbl_name FROM cloudsync_table_settings WHERE col_name = '*' AND key = 'algo')
              ORDER BY rowid
            """).compactMap { $0.first?.stringValue }.joined(separator: ",")
        return SchemaHash.hash(text)
    }

    /// Makes the current schema's hash the newest known one. A hash known already moves to the
    /// newest `seq` (a schema changed and changed back is the current schema again).
    ///
    /// Both hashes are recorded, the 0.8 text hash and then the 1.x structural hash, so that
    /// payloads of either generation made against this schema are recognised (wire-format §9).
    func recordSchemaHash() throws(CloudSyncError) {
        for hash in [try currentSchemaHash(), try currentStructuralSchemaHash()] {
            try connection.run("""
                INSERT INTO cloudsync_schema_versions(hash, seq) VALUES (?1, (SELECT COALESCE(max(seq), 0) + 1 FROM cloudsync_schema_versions))
                  ON CONFLICT(hash) DO UPDATE SET seq = excluded.seq
                """, [.integer(SchemaHash.signed(hash))])
        }
    }

    /// Whether a payload made against schema `hash` may be applied here: a hash this database
    /// has had, or its current schema's.
    ///
    /// The second case upgrades databases created before the text hash followed creation order:
    /// they hold only the name-ordered hash, and the first payload a 0.8 client sends with the
    /// right one records it, with nothing for the user to do.
    func isKnownSchemaHash(_ hash: UInt64) throws(CloudSyncError) -> Bool {
        guard try hasGlobalTables() else { return false }
        if try connection.scalar("SELECT 1 FROM cloudsync_schema_versions WHERE hash = ?1", [.integer(SchemaHash.signed(hash))]) != nil {
            return true
        }
        guard try currentSchemaHash() == hash else { return false }
        try recordSchemaHash()
        return true
    }

    // MARK: Schema changes

    /// Prepares `name` for an `ALTER TABLE`: its triggers are removed until `commitAlter`.
    public func beginAlter(table name: String) throws(CloudSyncError) {
        let table = try requireTable(name)
        try TriggerSet.drop(table: table.name, on: connection)
    }

    /// Brings `name`'s sync metadata in line with its altered schema: clocks of removed columns
    /// go away, added columns become syncable, and the new schema hash is recorded.
    public func commitAlter(table name: String) throws(CloudSyncError) {
        try connection.withSavepoint("cloudsync_alter") { () throws(CloudSyncError) in
            let old = try requireTable(name)
            guard let shape = try TableShape.read(old.name, on: connection) else {
                throw CloudSyncError(.unknownTable, "table \(name) no longer exists: call cloudsync_cleanup('\(name)') instead")
            }
            try shape.validateForSync(skipping: (try storedInitFlags(old.name) ?? []).union(.allowIntegerPrimaryKey))
            guard shape.primaryKey == old.primaryKey else {
                throw CloudSyncError(.unsupportedSchema, "the primary key of table \(name) changed; synchronized tables cannot change their key: create a new table and copy the rows")
            }
            let newColumns = Set(shape.columns.map(\.name))
            for removed in old.columns where !newColumns.contains(removed) {
                try connection.run("DELETE FROM \(old.clockTable) WHERE col_name = ?1", [.string(removed)])
                if old.blockColumns[removed] != nil { try dropBlocks(of: old, column: removed) }
                try connection.run(
                    "INSERT OR REPLACE INTO cloudsync_table_settings(tbl_name, col_name, key, value) VALUES (?1, ?2, 'dropped', '1')",
                    [.string(old.name), .string(removed)])
            }
            for added in newColumns {
                try connection.run(
                    "DELETE FROM cloudsync_table_settings WHERE tbl_name = ?1 AND col_name = ?2 AND key = 'dropped'",
                    [.string(old.name), .string(added)])
            }
            invalidateTables()
            try TriggerSet(table: try requireTable(old.name)).install(on: connection)
            try recordSchemaHash()
        }
    }

    // MARK: Versions

    /// The highest `db_version` recorded in any clock table (0 if none).
    public func databaseVersion() throws(CloudSyncError) -> Int64 {
        try loadTablesIfNeeded()
        guard !tablesByName.isEmpty else { return 0 }
        // Not cached: runs once per transaction, and cached statements would keep the host
        // from closing the connection.
        return try connection.scalar(maxVersionSQL())?.integerValue ?? 0
    }

    private func maxVersionSQL() -> String {
        let parts = tablesByName.values.map(\.clockTable).sorted()
            .map { "SELECT max(db_version) AS v FROM \($0)" }
        return "SELECT COALESCE(max(v), 0) FROM (\(parts.joined(separator: " UNION ALL ")))"
    }

    /// The `db_version` of the write transaction in progress, starting a new one if the last
    /// transaction this connection saw has ended.
    func transactionVersion() throws(CloudSyncError) -> Int64 {
        let dataVersion = connection.dataVersion
        if !clock.isCurrent(dataVersion: dataVersion) {
            // Another connection may have synchronized or altered tables since.
            try refreshTablesIfSchemaChanged()
            let floor = try integerSetting(EngineSetting.versionFloor) ?? 0
            clock.start(dataVersion: dataVersion, dbVersion: max(try databaseVersion(), floor) + 1)
        }
        return clock.dbVersion
    }

}
