import CloudSyncCore

// Placeholder until policies land.
extension EmbeddedStorage {
    public func setPolicy(_ policy: TablePolicy, database: String) async throws { throw SyncStorageError(.invalidPolicy, "not available yet") }
    public func policies(database: String, table: String?) async throws -> [TablePolicy] { [] }
    public func disablePolicy(database: String, table: String) async throws { throw SyncStorageError(.invalidPolicy, "not available yet") }
}
