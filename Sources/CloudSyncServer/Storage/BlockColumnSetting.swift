/// A column of a managed database in block mode (block-level text merge, block-text.md).
public struct BlockColumnSetting: Sendable, Equatable {
    public var table: String
    public var column: String
    /// What separates two blocks of the column's text.
    public var delimiter: String

    public init(table: String, column: String, delimiter: String) {
        self.table = table
        self.column = column
        self.delimiter = delimiter
    }
}
