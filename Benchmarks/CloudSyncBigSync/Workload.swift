import CloudSyncCore

/// The table a scenario syncs and how its rows are made.
enum Workload: String {
    /// `blobs(id, body)`: rows of one random (incompressible) BLOB each, `size` bytes.
    case blobs
    /// `items(id, name, quantity, price)`: the table of scripts/bench, three non-key columns.
    case items

    var table: String { rawValue }

    var schema: String {
        switch self {
        case .blobs: "CREATE TABLE IF NOT EXISTS blobs(id TEXT PRIMARY KEY NOT NULL, body BLOB)"
        case .items: "CREATE TABLE IF NOT EXISTS items(id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '', quantity INTEGER NOT NULL DEFAULT 0, price REAL)"
        }
    }

    /// Inserts rows `first` ... `last` (one statement; SQLite generates the values).
    func insert(first: Int, last: Int, size: Int, on connection: Connection) throws(CloudSyncError) {
        let rows = "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)"
        switch self {
        case .blobs:
            try connection.run("INSERT INTO blobs(id, body) \(rows) SELECT printf('row-%010d', i), randomblob(?3) FROM n",
                               [.integer(Int64(first)), .integer(Int64(last)), .integer(Int64(size))])
        case .items:
            try connection.run("INSERT INTO items(id, name, quantity, price) \(rows) SELECT printf('item-%08d', i), 'name of item ' || i, i % 1000, i * 0.25 FROM n",
                               [.integer(Int64(first)), .integer(Int64(last))])
        }
    }

    /// A hash of every row in key order, and the row count: two databases with the same
    /// fingerprint hold the same rows.
    func fingerprint(of connection: Connection) throws(CloudSyncError) -> (rows: Int, hash: UInt64) {
        let statement = try connection.prepare("SELECT * FROM \(table) ORDER BY id")
        let columns: Int32 = self == .blobs ? 2 : 4
        var hasher = FNV1a()
        var rows = 0
        while try statement.step() {
            rows += 1
            for column in 0..<columns {
                switch statement.value(at: column) {
                case .integer(let value): hasher.add(value)
                case .real(let value): hasher.add(value.bitPattern)
                case .text(let bytes), .blob(let bytes): hasher.add(UInt64(bytes.count)); hasher.add(bytes)
                case .null: hasher.add(UInt64.max)
                }
            }
        }
        return (rows, hasher.value)
    }
}
