import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// Managed databases created before the 0.8 text hash followed creation order hold only the
/// name-ordered hash. A 0.8 client whose tables were created in another order sends the
/// creation-ordered one; the server must take it without anyone migrating anything.
@Suite("Schema hash: databases created with the name-ordered hash")
struct SchemaHashUpgradeTests {
    static let schema = """
        CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT);
        CREATE TABLE labels(id TEXT PRIMARY KEY NOT NULL, name TEXT);
        """
    /// The hash of `schema` in name order (labels, notes), from vectors-v2.json.
    static let nameOrderedHash: Int64 = -2859852493726674960
    static let creationOrderedHash: UInt64 = 15308473701831319760

    @Test("an old database takes a 0.8 client's upload", arguments: StorageBackend.allCases)
    func upgrades(backend: StorageBackend) async throws {
        try await withStorage(backend) { data in
            try await data.storage.createDatabase(name: "notes", schema: Self.schema, tables: nil)
            // Make it look as the earlier server created it.
            switch data.location {
            case .directory:
                let connection = try SQLiteConnection(path: try data.embedded.databasePath("notes"), engine: false, setup: "PRAGMA busy_timeout = 5000")
                defer { connection.close() }
                try connection.connection.execute("DELETE FROM cloudsync_schema_versions")
                try connection.connection.run("INSERT INTO cloudsync_schema_versions(hash, seq) VALUES (?1, 1)", [.integer(Self.nameOrderedHash)])
            case .postgres(let database):
                try await database.withConnection { connection in
                    _ = try await connection.query("UPDATE cloudsync.databases SET schema_hashes = ARRAY[\(Self.nameOrderedHash)]::bigint[] WHERE name = 'notes'", logger: PostgresTestDatabase.logger)
                }
            }
            // A server started on the old data.
            try await data.withAnotherStorage { server in
                let device = try Device(schema: Self.schema, table: "*")
                try device.execute("SELECT cloudsync_set('payload_version', 1)")
                try device.execute("INSERT INTO notes(id, body) VALUES ('n1', 'written by a 0.8 client')")
                let upload = try #require(try device.pendingUpload())
                #expect(try PayloadHeader(parsing: upload.payload).schemaHash == Self.creationOrderedHash)
                let site = try #require(SiteID(bytes: device.site))
                _ = try await server.merge(database: "notes", site: site, payload: upload.payload, as: .administrator)
                #expect(try await data.query("SELECT id, body FROM notes", database: "notes") == [[.string("n1"), .string("written by a 0.8 client")]])

                // What the server sends back carries the hash the client computes.
                let other = try #require(SiteID(hex: String(repeating: "3", count: 32)))
                let page = try #require(try await server.changes(database: "notes", excludingSite: other, after: .start, limit: 100, as: .administrator))
                #expect(try PayloadHeader(parsing: page.payload).schemaHash == Self.creationOrderedHash)
            }
        }
    }
}
