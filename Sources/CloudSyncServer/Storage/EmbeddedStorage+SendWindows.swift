import CloudSyncCore

/// Protocol-v2 send cursors (`SendWindows`), one row per database and site in the catalog's
/// `send_windows` table.
extension EmbeddedStorage {
    public func recordSendWindow(database: String, site: SiteID, window: ClosedRange<Int64>) async throws -> Int64 {
        try await catalog.run { connection in
            try Self.engineCall { () throws -> Int64 in
                let sql = connection.connection
                // IMMEDIATE: another process on the same catalog cannot interleave its
                // read-modify-write.
                try sql.execute("BEGIN IMMEDIATE")
                do {
                    var windows = try Self.sendWindows(sql, database: database, site: site)
                    windows.insert(window)
                    try sql.run(
                        "INSERT INTO send_windows(database, site, windows) VALUES (?1, ?2, ?3) ON CONFLICT(database, site) DO UPDATE SET windows = excluded.windows",
                        [.string(database), .string(site.hex), .string(windows.encoded)])
                    try sql.execute("COMMIT")
                    return windows.contiguousEnd
                } catch {
                    if !sql.isAutocommit { try? sql.execute("ROLLBACK") }
                    throw error
                }
            }
        }
    }

    public func sendCursor(database: String, site: SiteID) async throws -> Int64 {
        try await catalog.run { connection in
            try Self.engineCall { try Self.sendWindows(connection.connection, database: database, site: site).contiguousEnd }
        }
    }

    private static func sendWindows(_ sql: Connection, database: String, site: SiteID) throws(CloudSyncError) -> SendWindows {
        let stored = try sql.scalar("SELECT windows FROM send_windows WHERE database = ?1 AND site = ?2", [.string(database), .string(site.hex)])?.stringValue
        // An unreadable row counts as none: the client then sends everything again.
        return stored.flatMap(SendWindows.init(encoded:)) ?? SendWindows()
    }
}
