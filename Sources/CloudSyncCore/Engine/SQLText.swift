/// Quoting for identifiers and literals spliced into generated SQL.
public enum SQLText {
    /// `name` as a double-quoted identifier.
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacing("\"", with: "\"\"") + "\""
    }

    /// `text` as a single-quoted string literal.
    public static func literal(_ text: String) -> String {
        "'" + text.replacing("'", with: "''") + "'"
    }
}
