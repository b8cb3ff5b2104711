/// The Row-Level Security policies of one table: a SQL boolean expression per operation.
///
/// A table with policies denies token users every operation that has no expression. See
/// docs/row-level-security.md for the expression language.
public struct TablePolicy: Sendable, Equatable, Codable {
    public var table: String
    /// Which rows a user downloads.
    public var select: String?
    /// Which new rows a user may upload (`NEW.col`, or bare column names).
    public var insert: String?
    /// Which changes to existing rows a user may upload (`OLD.col`, `NEW.col`; bare names are NEW).
    public var update: String?
    /// Which rows a user may delete (`OLD.col`, or bare column names).
    public var delete: String?

    public init(table: String, select: String? = nil, insert: String? = nil, update: String? = nil, delete: String? = nil) {
        self.table = table
        self.select = select
        self.insert = insert
        self.update = update
        self.delete = delete
    }
}
