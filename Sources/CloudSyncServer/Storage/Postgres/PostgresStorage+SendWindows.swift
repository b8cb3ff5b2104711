import CloudSyncCore
import NIOCore
import PostgresNIO

/// Protocol-v2 send cursors (`SendWindows`), one row per database and site in
/// `cloudsync.send_windows`.
extension PostgresStorage {
    public func recordSendWindow(database: String, site: SiteID, window: ClosedRange<Int64>) async throws -> Int64 {
        let bytes = ByteBuffer(bytes: site.bytes)
        let logger = logger
        return try await transaction { connection in
            // The row is created first so that FOR UPDATE has something to lock: two
            // instances recording windows of one site take turns.
            try await connection.query(
                "INSERT INTO cloudsync.send_windows(database, site, windows) VALUES (\(database), \(bytes), '') ON CONFLICT DO NOTHING", logger: logger)
            let stored = try await connection.query(
                "SELECT windows FROM cloudsync.send_windows WHERE database = \(database) AND site = \(bytes) FOR UPDATE", logger: logger
            ).collect().first?.decode(String.self)
            var windows = stored.flatMap(SendWindows.init(encoded:)) ?? SendWindows()
            windows.insert(window)
            let encoded = windows.encoded
            try await connection.query(
                "UPDATE cloudsync.send_windows SET windows = \(encoded) WHERE database = \(database) AND site = \(bytes)", logger: logger)
            return windows.contiguousEnd
        }
    }

    public func sendCursor(database: String, site: SiteID) async throws -> Int64 {
        let bytes = ByteBuffer(bytes: site.bytes)
        let stored = try await rows("SELECT windows FROM cloudsync.send_windows WHERE database = \(database) AND site = \(bytes)").first?.decode(String.self)
        return (stored.flatMap(SendWindows.init(encoded:)) ?? SendWindows()).contiguousEnd
    }
}
