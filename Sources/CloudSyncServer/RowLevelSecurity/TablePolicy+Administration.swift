/// What `policy set`, `policy show` and `policy disable` answer alike on every storage.
extension TablePolicy {
    /// Whether `policies(database:table:)` shows this policy for `table` (nil: every table).
    func isShown(for table: String?) -> Bool {
        table.map { $0.lowercased() == self.table.lowercased() } ?? true
    }

    static func notSynchronized(_ table: String) -> SyncStorageError {
        SyncStorageError(.invalidPolicy, "table \(table) is not a synchronized table of this database")
    }

    static func noEnabledPolicy(_ table: String) -> SyncStorageError {
        SyncStorageError(.invalidPolicy, "table \(table) has no enabled Row-Level Security policy")
    }
}
