import CloudSync
import Foundation
import GRDB

/// A notes database whose `body` merges line by line: two devices that edit different lines
/// offline both keep their edits, and lines both insert at the same place are both kept.
///
/// Separate from the todo table so that the todo server database stays as `schema` prints it;
/// a server syncing notes needs `cloudsync-server column set --table notes --column body
/// --algo block` as well.
struct NotesStore: Sendable {
    static let schema = "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '');"

    let writer: any DatabaseWriter

    init(path: String) throws {
        var config = Configuration()
        config.enableCloudSync()
        writer = try DatabaseQueue(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("create notes") { db in
            try db.execute(sql: Self.schema)
            try db.enableSync(table: "notes", blockText: [.lines("body")])
        }
        try migrator.migrate(writer)
    }

    func write(id: String, title: String, body: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO notes(id, title, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title, body = excluded.body",
                arguments: [id, title, body])
        }
    }

    func body(id: String) async throws -> String? {
        try await writer.read { db in try String.fetchOne(db, sql: "SELECT body FROM notes WHERE id = ?", arguments: [id]) }
    }

    /// Every change of this database as one payload (nil when there is none), for a transfer
    /// without a server.
    func payload() async throws -> Data? {
        try await writer.read { db in
            try Data.fetchOne(db, sql: "SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes")
        }
    }

    func apply(_ payload: Data) async throws {
        try await writer.write { db in try db.execute(sql: "SELECT cloudsync_payload_decode(?)", arguments: [payload]) }
    }
}
