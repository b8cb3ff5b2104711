import CloudSyncCore

/// One SQL statement written for SQLite and for PostgreSQL, which differ only in literals
/// (blobs) and in the schema that qualifies PostgreSQL's tables.
struct DualStatement: Sendable, CustomStringConvertible {
    let sqlite: String
    /// The PostgreSQL text, with `%S%` where the quoted schema goes.
    let postgresTemplate: String

    var description: String { sqlite }

    func postgres(schema: String) -> String {
        postgresTemplate.replacing("%S%", with: Self.quoted(schema))
    }

    /// The same text for both (`BEGIN`, `COMMIT`, expressions without blobs or table names).
    static func raw(_ sql: String) -> DualStatement { DualStatement(sqlite: sql, postgresTemplate: sql) }

    static let begin = raw("BEGIN")
    static let commit = raw("COMMIT")

    static func insert(_ table: DifferentialTable, _ rows: [[String: SQLValue]]) -> DualStatement {
        let names = table.allColumns.map(\.name).filter { name in rows.contains { $0[name] != nil } }
        func text(_ literal: (SQLValue) -> String) -> String {
            names.map(quoted).joined(separator: ", ") + ") VALUES "
                + rows.map { row in "(" + names.map { literal(row[$0] ?? .null) }.joined(separator: ", ") + ")" }.joined(separator: ", ")
        }
        return DualStatement(
            sqlite: "INSERT INTO \(quoted(table.name)) (" + text(sqliteLiteral),
            postgresTemplate: "INSERT INTO %S%.\(quoted(table.name)) (" + text(postgresLiteral))
    }

    static func insert(_ table: DifferentialTable, _ row: [String: SQLValue]) -> DualStatement { insert(table, [row]) }

    /// `UPDATE table SET … WHERE key = …`.
    static func update(_ table: DifferentialTable, set: [(String, SQLValue)], key: [SQLValue]) -> DualStatement {
        func text(_ literal: (SQLValue) -> String) -> String {
            " SET " + set.map { "\(quoted($0.0)) = \(literal($0.1))" }.joined(separator: ", ") + condition(table, key, literal)
        }
        return DualStatement(
            sqlite: "UPDATE \(quoted(table.name))" + text(sqliteLiteral),
            postgresTemplate: "UPDATE %S%.\(quoted(table.name))" + text(postgresLiteral))
    }

    /// `UPDATE table ` + `rest`, where `rest` is the same text in both dialects.
    static func update(_ table: DifferentialTable, raw rest: String) -> DualStatement {
        DualStatement(sqlite: "UPDATE \(quoted(table.name)) " + rest, postgresTemplate: "UPDATE %S%.\(quoted(table.name)) " + rest)
    }

    static func delete(_ table: DifferentialTable, key: [SQLValue]) -> DualStatement {
        DualStatement(
            sqlite: "DELETE FROM \(quoted(table.name))" + condition(table, key, sqliteLiteral),
            postgresTemplate: "DELETE FROM %S%.\(quoted(table.name))" + condition(table, key, postgresLiteral))
    }

    private static func condition(_ table: DifferentialTable, _ key: [SQLValue], _ literal: (SQLValue) -> String) -> String {
        " WHERE " + zip(table.key, key).map { "\(quoted($0.name)) = \(literal($1))" }.joined(separator: " AND ")
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacing("\"", with: "\"\"") + "\"" }

    static func sqliteLiteral(_ value: SQLValue) -> String {
        switch value {
        case .null: "NULL"
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text: "'" + (value.stringValue ?? "").replacing("'", with: "''") + "'"
        case .blob(let bytes): "X'" + Hex.encode(bytes) + "'"
        }
    }

    static func postgresLiteral(_ value: SQLValue) -> String {
        switch value {
        case .blob(let bytes): "'\\x" + Hex.encode(bytes) + "'::bytea"
        case .real(let value): String(value) + "::float8"
        default: sqliteLiteral(value)
        }
    }

    /// A value as both sides print it in comparisons.
    static func display(_ value: SQLValue) -> String {
        switch value {
        case .null: "NULL"
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text: value.stringValue ?? ""
        case .blob(let bytes): Hex.encode(bytes).lowercased()
        }
    }
}
