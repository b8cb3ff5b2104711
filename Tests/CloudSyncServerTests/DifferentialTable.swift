/// A table created the same way in SQLite (synchronized by the engine) and in PostgreSQL
/// (with `PostgresTriggers`), for the differential trigger tests.
struct DifferentialTable: Sendable {
    /// A column: its name and its SQLite declared type (INTEGER, TEXT, REAL or BLOB).
    typealias Column = (name: String, declared: String)

    let name: String
    /// Key columns, in key order.
    let key: [Column]
    /// Other columns, in declaration order.
    let columns: [Column]

    var allColumns: [Column] { key + columns }

    /// The PostgreSQL type of a column declared `declared` in SQLite (docs/postgres.md, "Types").
    static func postgresType(_ declared: String) -> String {
        switch declared.uppercased() {
        case "INTEGER": "BIGINT"
        case "TEXT": "TEXT"
        case "REAL": "DOUBLE PRECISION"
        case "BLOB": "BYTEA"
        default: "NUMERIC"
        }
    }

    var sqliteCreate: String {
        let keyNames = Set(key.map(\.name))
        let definitions = allColumns.map { "\(DualStatement.quoted($0.name)) \($0.declared)" + (keyNames.contains($0.name) ? " NOT NULL" : "") }
        let keyList = key.map { DualStatement.quoted($0.name) }.joined(separator: ", ")
        return "CREATE TABLE \(DualStatement.quoted(name)) (\(definitions.joined(separator: ", ")), PRIMARY KEY (\(keyList)))"
    }

    func postgresCreate(schema: String) -> String {
        let definitions = allColumns.map { "\(DualStatement.quoted($0.name)) \(Self.postgresType($0.declared))" }
        let keyList = key.map { DualStatement.quoted($0.name) }.joined(separator: ", ")
        return "CREATE TABLE \(DualStatement.quoted(schema)).\(DualStatement.quoted(name)) (\(definitions.joined(separator: ", ")), PRIMARY KEY (\(keyList)))"
    }

    /// `items(id INTEGER key, name TEXT, qty INTEGER, price REAL, data BLOB)`.
    static let items = DifferentialTable(
        name: "items", key: [("id", "INTEGER")],
        columns: [("name", "TEXT"), ("qty", "INTEGER"), ("price", "REAL"), ("data", "BLOB")])
    /// `pairs(a TEXT, b INTEGER, v TEXT, w INTEGER)`, key `(a, b)`.
    static let pairs = DifferentialTable(
        name: "pairs", key: [("a", "TEXT"), ("b", "INTEGER")], columns: [("v", "TEXT"), ("w", "INTEGER")])
    /// `tags(tag TEXT key)`: key columns only.
    static let tags = DifferentialTable(name: "tags", key: [("tag", "TEXT")], columns: [])
    /// Names that need quoting: `my "odd" table`, key `key col`, columns `it's`, `a"b`, `$$x`, `back\slash`.
    static let odd = DifferentialTable(
        name: "my \"odd\" table", key: [("key col", "TEXT")],
        columns: [("it's", "TEXT"), ("a\"b", "INTEGER"), ("$$x", "TEXT"), ("back\\slash", "REAL")])

    static let all = [items, pairs, tags, odd]
}
