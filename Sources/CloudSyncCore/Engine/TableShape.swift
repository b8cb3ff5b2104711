/// The columns of a table as the schema declares them (`pragma_table_info`).
struct TableShape {
    struct Column {
        var name: String
        var declaredType: String
        var notNull: Bool
        var hasDefault: Bool
        /// Position in the primary key, from 1; 0 for non-key columns.
        var keyPosition: Int
    }

    /// The table's name as stored in the schema (its declared spelling).
    var name: String
    var allColumns: [Column]
    var isWithoutRowID: Bool

    var primaryKey: [String] {
        allColumns.filter { $0.keyPosition > 0 }.sorted { $0.keyPosition < $1.keyPosition }.map(\.name)
    }

    var columns: [Column] { allColumns.filter { $0.keyPosition == 0 } }

    /// Reads the shape of table `name` (matched case-insensitively); nil if there is no such table.
    static func read(_ name: String, on connection: Connection) throws(CloudSyncError) -> TableShape? {
        let found = try connection.rows(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
            [.string(name)]
        )
        guard let row = found.first, let exactName = row[0].stringValue else { return nil }
        let sql = (row[1].stringValue ?? "").lowercased()
        let rows = try connection.rows(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            [.string(exactName)]
        )
        let columns = rows.map { row in
            Column(
                name: row[0].stringValue ?? "",
                declaredType: row[1].stringValue ?? "",
                notNull: row[2].integerValue == 1,
                hasDefault: row[3] != .null,
                keyPosition: Int(row[4].integerValue ?? 0)
            )
        }
        let compact = sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
        return TableShape(name: exactName, allColumns: columns, isWithoutRowID: compact.hasSuffix("without rowid"))
    }

    /// Refuses, with the reason and the fix, a table whose shape cannot be merged safely.
    func validateForSync(skipping flags: InitFlags) throws(CloudSyncError) {
        let key = allColumns.filter { $0.keyPosition > 0 }
        guard !key.isEmpty else {
            throw CloudSyncError(.unsupportedSchema, "table \(name) has no declared primary key: declare one, for example id TEXT PRIMARY KEY NOT NULL")
        }
        let isRowIDAlias = key.count == 1 && key[0].declaredType.uppercased() == "INTEGER" && !isWithoutRowID
        if isRowIDAlias && !flags.contains(.allowIntegerPrimaryKey) {
            throw CloudSyncError(.unsupportedSchema, "table \(name) has a single INTEGER primary key, which different devices will reuse: use a TEXT key filled with cloudsync_uuid(), or pass flag 1 to cloudsync_init (cloudsync_init('\(name)', 'cls', 1)) if the keys are globally unique")
        }
        if !isRowIDAlias && !isWithoutRowID, let nullable = key.first(where: { !$0.notNull }) {
            throw CloudSyncError(.unsupportedSchema, "primary key column \(nullable.name) of table \(name) can be NULL: declare it NOT NULL")
        }
        if !flags.contains(.allowNotNullWithoutDefault), let column = columns.first(where: { $0.notNull && !$0.hasDefault }) {
            throw CloudSyncError(.unsupportedSchema, "column \(column.name) of table \(name) is NOT NULL without a DEFAULT, so a row cannot be created from a partial change: add a DEFAULT value, or pass flag 2 to cloudsync_init if every change carries the column")
        }
        if key.count > 255 {
            throw CloudSyncError(.unsupportedSchema, "table \(name) has more than 255 primary key columns")
        }
    }
}
