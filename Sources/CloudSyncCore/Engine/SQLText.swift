/// Quoting for identifiers and literals spliced into generated SQL.
package enum SQLText {
    /// `name` as a double-quoted identifier.
    package static func identifier(_ name: String) -> String {
        "\"" + name.replacingText("\"", with: "\"\"") + "\""
    }

    /// `text` as a single-quoted string literal.
    package static func literal(_ text: String) -> String {
        "'" + text.replacingText("'", with: "''") + "'"
    }
}
