import CloudSyncCore
import Foundation

/// The tables a schema (CREATE TABLE statements) creates: what both storages create a database
/// from, and what the dashboard offers to tick before anything is created.
enum SchemaTables {
    /// Runs `schema` on `connection` and returns the tables it created, by name. Throws
    /// `.invalidSchema` when it fails or creates no table.
    static func create(_ schema: String, on connection: Connection) throws(SyncStorageError) -> [String] {
        do {
            try connection.execute(schema)
        } catch {
            throw SyncStorageError(.invalidSchema, "the schema failed: \(error.message)")
        }
        let created: [String]
        do {
            created = try connection.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).compactMap { $0.first?.stringValue }
        } catch {
            throw EmbeddedStorage.storageError(error)
        }
        guard !created.isEmpty else { throw SyncStorageError(.invalidSchema, "the schema creates no tables") }
        return created
    }

    /// The tables `schema` creates, read by running it in a throwaway in-memory database.
    static func names(in schema: String) throws -> [String] {
        guard !schema.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SyncStorageError(.invalidSchema, "Enter the CREATE TABLE statements of the database.")
        }
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: ":memory:", engine: false, setup: "")
        } catch {
            throw SyncStorageError(.failure, "cannot open a scratch database: \(error.message)")
        }
        defer { connection.close() }
        return try create(schema, on: connection.connection)
    }
}
