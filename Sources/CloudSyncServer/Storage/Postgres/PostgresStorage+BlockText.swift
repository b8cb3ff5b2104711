extension PostgresStorage {
    /// Block-level text columns are not available on PostgreSQL storage yet: its merges, row
    /// writer, feed and triggers know only whole-cell columns. Refused with a clear error
    /// rather than accepted and merged wrongly.
    public func setBlockColumn(database name: String, table: String, column: String, delimiter: String) async throws {
        _ = try await database(name)
        throw SyncStorageError(.invalidSchema, "block-level text columns (column set --algo block) are not supported on PostgreSQL storage yet; use the embedded SQLite storage for database \(name)")
    }

    public func blockColumns(database name: String) async throws -> [BlockColumnSetting] {
        _ = try await database(name)
        return []
    }
}
