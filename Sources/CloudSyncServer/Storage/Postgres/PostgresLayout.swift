import CloudSyncCore
/// The DDL of one managed database's schema (docs/postgres.md, "Layout").
enum PostgresLayout {
    /// Creates schema `schema` with the tables of `translated`, their clock tables and
    /// triggers, and the database's clock row.
    static func createStatements(schema: String, _ translated: PostgresSchema, siteID: [UInt8]) -> [String] {
        var statements = ["CREATE SCHEMA \(SQLText.identifier(schema))"] + PostgresTriggers.clockSQL(schema: schema, siteID: siteID)
        for table in translated.tables {
            statements.append(createTable(schema: schema, table))
            statements += PostgresTriggers.tableSQL(
                schema: schema, table: table.name,
                key: table.key.map { ($0.name, $0.type.rawValue) }, columns: table.columns.map(\.name))
        }
        return statements
    }

    static func createTable(schema: String, _ table: PostgresTable) -> String {
        let columns = table.allColumns.map { column in
            var definition = "\(SQLText.identifier(column.name)) \(column.type.rawValue)"
            if column.notNull { definition += " NOT NULL" }
            if let value = column.defaultSQL { definition += " DEFAULT \(value)" }
            return definition
        }
        let key = "PRIMARY KEY (" + table.key.map { SQLText.identifier($0.name) }.joined(separator: ", ") + ")"
        return "CREATE TABLE \(SQLText.identifier(schema)).\(SQLText.identifier(table.name)) (" + (columns + [key]).joined(separator: ", ") + ")"
    }
}
