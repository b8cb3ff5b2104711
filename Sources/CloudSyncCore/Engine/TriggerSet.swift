/// The triggers that record local writes of one synchronized table.
///
/// Each trigger hands the changed row to an engine function; the triggers stay quiet while
/// the connection is merging or the table's tracking is paused (`cloudsync_is_sync`).
struct TriggerSet {
    let table: SyncTable

    static let kinds = ["insert", "update", "delete", "before_update", "before_delete"]

    static func triggerName(_ table: String, _ kind: String) -> String {
        SQLText.identifier("cloudsync_\(kind)_\(table)")
    }

    func install(on connection: Connection) throws(CloudSyncError) {
        try Self.drop(table: table.name, on: connection)
        let name = SQLText.literal(table.name)
        let quiet = "cloudsync_is_sync(\(name)) = 0"
        let newKey = table.primaryKey.map { "NEW.\(SQLText.identifier($0))" }
        let oldKey = table.primaryKey.map { "OLD.\(SQLText.identifier($0))" }
        var sql = """
            CREATE TRIGGER \(Self.triggerName(table.name, "insert")) AFTER INSERT ON \(table.quotedName) WHEN \(quiet)
            BEGIN SELECT cloudsync_insert(\(([name] + newKey).joined(separator: ", "))); END;
            """
        if table.algorithm == .growOnlySet {
            for (kind, verb) in [("before_update", "UPDATE"), ("before_delete", "DELETE")] {
                let message = SQLText.literal("cloudsync: table \(table.name) is a grow-only set (gos): rows cannot be \(verb == "UPDATE" ? "updated" : "deleted") while sync is enabled")
                sql += """

                    CREATE TRIGGER \(Self.triggerName(table.name, kind)) BEFORE \(verb) ON \(table.quotedName) WHEN \(quiet)
                    BEGIN SELECT RAISE(ABORT, \(message)); END;
                    """
            }
        } else {
            let pairs = table.columns.flatMap { ["OLD.\(SQLText.identifier($0))", "NEW.\(SQLText.identifier($0))"] }
            sql += """

                CREATE TRIGGER \(Self.triggerName(table.name, "update")) AFTER UPDATE ON \(table.quotedName) WHEN \(quiet)
                BEGIN SELECT cloudsync_update(\(([name] + oldKey + newKey + pairs).joined(separator: ", "))); END;
                CREATE TRIGGER \(Self.triggerName(table.name, "delete")) AFTER DELETE ON \(table.quotedName) WHEN \(quiet)
                BEGIN SELECT cloudsync_delete(\(([name] + oldKey).joined(separator: ", "))); END;
                """
        }
        try connection.execute(sql)
    }

    static func drop(table: String, on connection: Connection) throws(CloudSyncError) {
        let sql = kinds.map { "DROP TRIGGER IF EXISTS \(triggerName(table, $0));" }.joined(separator: "\n")
        try connection.execute(sql)
    }
}
