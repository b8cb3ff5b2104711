/// A TEXT column whose concurrent edits merge block by block (by default line by line), as
/// sqlite-sync 1.x's block mode does: each block is its own last-writer-wins cell, so edits of
/// different lines made on different devices both survive, and lines two devices insert at the
/// same place are both kept.
///
/// Pass it to ``GRDB/Database/enableSync(table:algorithm:force:blockText:)``. Every device and
/// the server must configure the same columns with the same delimiters.
public struct BlockTextColumn: Sendable, Hashable {
    /// The column name.
    public var name: String
    /// What separates two blocks; a line feed by default.
    public var delimiter: String

    public init(_ name: String, delimiter: String = "\n") {
        self.name = name
        self.delimiter = delimiter
    }

    /// A column merged line by line.
    public static func lines(_ name: String) -> BlockTextColumn { BlockTextColumn(name) }

    /// A column merged paragraph by paragraph (blocks separated by an empty line).
    public static func paragraphs(_ name: String) -> BlockTextColumn { BlockTextColumn(name, delimiter: "\n\n") }
}
