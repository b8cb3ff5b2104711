import PostgresNIO

extension PostgresStorage: ExternalChangeSource {
    /// LISTENs on `PostgresTriggers.changesChannel`, which every writing statement of a
    /// synchronized table notifies with its schema at commit. Holds one pooled connection.
    public func watchChanges(connected: @escaping @Sendable () -> Void, changed: @escaping @Sendable (String) -> Void) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: PostgresTriggers.changesChannel) { notifications in
                connected()
                for try await notification in notifications {
                    // Only databases this instance has loaded can have checks waiting on them.
                    if let name = self.loadedDatabase(schema: notification.payload) { changed(name) }
                }
            }
        }
    }
}
