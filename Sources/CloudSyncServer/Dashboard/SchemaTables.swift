import CloudSyncCore

/// The tables a schema creates, read by running it in a throwaway in-memory SQLite database,
/// so the dashboard can offer them to tick before anything is created.
enum SchemaTables {
    static func names(in schema: String) throws -> [String] {
        guard !schema.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SyncStorageError(.invalidSchema, "Enter the CREATE TABLE statements of the database.")
        }
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: ":memory:", engine: false, setup: "")
        } catch {
            throw SyncStorageError(.failure, "cannot open an in-memory database: \(error.message)")
        }
        defer { connection.close() }
        do {
            try connection.connection.execute(schema)
        } catch {
            throw SyncStorageError(.invalidSchema, "the schema failed: \(error.message)")
        }
        let names = try EmbeddedStorage.engineCall {
            try connection.connection.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).compactMap { $0.first?.stringValue }
        }
        guard !names.isEmpty else { throw SyncStorageError(.invalidSchema, "the schema creates no tables") }
        return names
    }
}
