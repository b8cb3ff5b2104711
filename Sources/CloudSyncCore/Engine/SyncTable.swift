/// What the engine knows about one synchronized table on one connection: its columns, and the
/// statements that maintain its clock table.
///
/// Not `Sendable`: owns prepared statements of one connection.
final class SyncTable {
    static let sentinel = Change.sentinelColumn

    let name: String
    let primaryKey: [String]
    /// Non-key columns in declaration order.
    let columns: [String]
    let algorithm: SyncAlgorithm
    /// Columns removed by `cloudsync_commit_alter`; changes for them are skipped, not refused.
    let droppedColumns: Set<String>
    /// Columns in block mode (block-text.md), with their delimiters.
    let blockColumns: [String: [UInt8]]
    /// Non-key columns that keep one clock each (the others are in block mode).
    let plainColumns: [String]
    /// `<table>_cloudsync_blocks`, quoted: the stored text of every block.
    let blocksTable: String
    /// `cloudsync_set_filter`'s expression over the bare column names: only rows satisfying it
    /// are tracked; nil tracks every row.
    let filter: String?

    let quotedName: String
    let clockTable: String
    let columnIndex: [String: Int]

    private(set) lazy var merge = MergeStatements(table: self)

    init(name: String, primaryKey: [String], columns: [String], algorithm: SyncAlgorithm, droppedColumns: Set<String>, blockColumns: [String: [UInt8]] = [:], filter: String? = nil) {
        self.name = name
        self.primaryKey = primaryKey
        self.columns = columns
        self.algorithm = algorithm
        self.droppedColumns = droppedColumns
        self.blockColumns = blockColumns
        self.plainColumns = columns.filter { blockColumns[$0] == nil }
        self.blocksTable = SQLText.identifier(name + "_cloudsync_blocks")
        self.filter = filter
        self.quotedName = SQLText.identifier(name)
        self.clockTable = SQLText.identifier(name + "_cloudsync")
        var index: [String: Int] = [:]
        for (offset, column) in columns.enumerated() { index[column] = offset }
        self.columnIndex = index
    }

    func releaseStatements() {
        merge = MergeStatements(table: self)
    }

    /// The merge slot of a cell: its column's position, or `columns.count` for the sentinel;
    /// nil for a column the table does not have.
    func slot(_ column: String) -> Int? {
        column == Self.sentinel ? columns.count : columnIndex[column]
    }

    func slotName(_ slot: Int) -> String {
        slot == columns.count ? Self.sentinel : columns[slot]
    }

    // MARK: SQL fragments

    var keyMatch: String {
        primaryKey.enumerated()
            .map { "\(SQLText.identifier($0.element)) = ?\($0.offset + 1)" }
            .joined(separator: " AND ")
    }

    var quotedKeyList: String { primaryKey.map(SQLText.identifier).joined(separator: ", ") }

    /// `WHERE` condition joining a clock alias to the table alias through the key blob.
    func keyJoin(table: String, clock: String) -> String {
        primaryKey.enumerated()
            .map { "\(table).\(SQLText.identifier($0.element)) = cloudsync_pk_decode(\(clock).pk, \($0.offset + 1))" }
            .joined(separator: " AND ")
    }

    /// `CASE` expression yielding the current value of the cell a clock row names; a block's
    /// clock yields the block's stored text.
    func valueCase(table: String, clock: String) -> String {
        let otherwise = blockColumns.isEmpty
            ? "NULL"
            : "(SELECT b.col_value FROM \(blocksTable) b WHERE b.pk = \(clock).pk AND b.col_name = \(clock).col_name)"
        guard !columns.isEmpty else { return otherwise }
        let branches = columns
            .map { "WHEN \(SQLText.literal($0)) THEN \(table).\(SQLText.identifier($0))" }
            .joined(separator: " ")
        return "CASE \(clock).col_name \(branches) ELSE \(otherwise) END"
    }

    /// The block column a block name (`column` 0x1F `key`) belongs to, if that column is in
    /// block mode here. The prefix is compared literally.
    func blockColumn(ofBlockName name: String) -> String? {
        guard !blockColumns.isEmpty, let separator = name.utf8.firstIndex(of: 0x1F) else { return nil }
        let prefix = String(decoding: name.utf8[..<separator], as: UTF8.self)
        return blockColumns[prefix] == nil ? nil : prefix
    }
}
