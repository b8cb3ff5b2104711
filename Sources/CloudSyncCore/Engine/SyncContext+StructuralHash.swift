/// The sqlite-sync 1.x structural schema hash (wire-format §10), against which version-2
/// payloads from 1.x peers are checked.
extension SyncContext {
    /// The structural hash of the synchronized tables as they are now.
    public func currentStructuralSchemaHash() throws(CloudSyncError) -> UInt64 {
        let tables = try connection.rows(
            "SELECT DISTINCT tbl_name FROM cloudsync_table_settings ORDER BY tbl_name COLLATE NOCASE"
        ).compactMap { $0.first?.stringValue }
        var entries: [String] = []
        for table in tables {
            for column in try connection.rows("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid", [.string(table)]) {
                let name = String((column[0].stringValue ?? "").map { $0.isASCII ? Character($0.lowercased()) : $0 })
                let key = (column[2].integerValue ?? 0) > 0 ? 1 : 0
                entries.append("\(table):\(name):\(Self.structuralClass(column[1].stringValue ?? "")):\(key)")
            }
        }
        return SchemaHash.hash(entries.joined(separator: ","))
    }

    /// The type class of a declared type in the structural hash.
    static func structuralClass(_ declared: String) -> String {
        let type = declared.uppercased()
        if type.containsText("INT") { return "integer" }
        if type.containsText("CHAR") || type.containsText("CLOB") || type.containsText("TEXT") { return "text" }
        if type.containsText("BLOB") || type.isEmpty { return "blob" }
        if type.containsText("REAL") || type.containsText("FLOA") || type.containsText("DOUB") { return "real" }
        if type == "NUMERIC" || type == "DECIMAL" { return "numeric" }
        return "text"
    }
}
