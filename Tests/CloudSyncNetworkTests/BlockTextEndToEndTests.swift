import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import PostgresNIO
import Testing
@testable import CloudSyncNetwork

/// Block-level text columns through a real `cloudsync-server` over HTTP on loopback, on the
/// embedded storage and on PostgreSQL.
@Suite("Block text through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct BlockTextEndToEndTests {
    static let schema = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL DEFAULT '', body TEXT)"
    static let database = "notes.sqlite"

    func device(_ server: ServerProcess, apiKey: String = "", token: String? = nil) throws -> Device {
        let device = try Device(schema: Self.schema, server: server.url, database: Self.database, apiKey: apiKey)
        try device.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')")
        if let token { try device.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(token)]) }
        return device
    }

    func body(_ device: Device) throws -> String? {
        try device.connection.scalar("SELECT body FROM notes WHERE id = 'n1'")?.stringValue
    }

    enum Storage: String, CaseIterable, Sendable {
        case embedded, postgres
    }

    /// A server process on `storage` (a fresh PostgreSQL database for `.postgres`, dropped
    /// afterwards), and a way to read the server's `notes.body` of `n1`.
    func withServer(_ storage: Storage, _ body: (ServerProcess, () async throws -> String?) async throws -> Void) async throws {
        switch storage {
        case .embedded:
            let server = try ServerProcess()
            defer { server.stop() }
            try await body(server) {
                let handle = try Device.api.openDatabase(path: "file:\(server.databaseFile(Self.database).path)?mode=ro")
                defer { Device.api.closeDatabase(handle) }
                return try Connection(handle: handle, api: Device.api).scalar("SELECT body FROM notes WHERE id = 'n1'")?.stringValue
            }
        case .postgres:
            guard PostgresTestDatabase.isAvailable else { try Test.cancel("PostgreSQL is not installed") }
            let postgres = try await PostgresTestDatabase.create()
            let server = try ServerProcess(postgres: postgres.url)
            defer { server.stop() }
            do {
                try await body(server) {
                    try await postgres.withConnection { connection in
                        let schema = try await connection.query("SELECT schema_name FROM cloudsync.databases WHERE name = \(Self.database)", logger: PostgresTestDatabase.logger)
                            .collect().first?.decode(String.self) ?? ""
                        return try await connection.query(
                            PostgresQuery(unsafeSQL: "SELECT body FROM \(SQLText.identifier(schema)).notes WHERE id = 'n1'"), logger: PostgresTestDatabase.logger)
                            .collect().first?.decode(String?.self)
                    }
                }
            } catch {
                server.stop()
                await postgres.drop()
                throw error
            }
            server.stop()
            await postgres.drop()
        }
    }

    /// Two devices edit different lines offline, sync, and both keep both edits; the server's
    /// own copy holds the merged text.
    func twoDevicesKeepBothLineEdits(_ a: Device, _ b: Device, serverBody: () async throws -> String?) async throws {
        try a.execute("INSERT INTO notes(id, user_id, body) VALUES ('n1', 'alice', 'Welcome\nAgenda\nActions')")
        try a.sync()
        try b.sync()
        #expect(try body(b) == "Welcome\nAgenda\nActions")
        try a.execute("UPDATE notes SET body = 'Welcome everyone\nAgenda\nActions'")
        try b.execute("UPDATE notes SET body = 'Welcome\nAgenda\nNew line from B\nActions - DONE'")
        for _ in 0..<2 { for device in [a, b] { try device.sync() } }
        let merged = "Welcome everyone\nAgenda\nNew line from B\nActions - DONE"
        #expect(try body(a) == merged)
        #expect(try body(b) == merged)
        #expect(try await serverBody() == merged)
    }

    @Test(arguments: Storage.allCases)
    func columnSetAndShowThenTwoDevicesKeepBothEdits(_ storage: Storage) async throws {
        try await withServer(storage) { server, serverBody in
            let key = try server.createDatabase(Self.database, schema: Self.schema)
            try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "body", "--algo", "block"])
            #expect(try server.admin(["column", "show", "--database", Self.database]) == "notes\tbody\tblock\t\\n")
            #expect(throws: ServerFailure.self) {
                try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "id", "--algo", "block"])
            }
            try server.start()
            try await twoDevicesKeepBothLineEdits(try device(server, apiKey: key), try device(server, apiKey: key), serverBody: serverBody)
        }
    }

    @Test(arguments: Storage.allCases)
    func underRowLevelSecurity(_ storage: Storage) async throws {
        try await withServer(storage) { server, serverBody in
            _ = try server.createDatabase(Self.database, schema: Self.schema)
            try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "body", "--algo", "block"])
            try server.setPolicy(
                database: Self.database, table: "notes", select: "user_id = auth_userid()", insert: "NEW.user_id = auth_userid()",
                update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id", delete: "OLD.user_id = auth_userid()")
            try server.start()
            let token = try server.createToken(database: Self.database, user: "alice")
            let a = try device(server, token: token), b = try device(server, token: token)
            try await twoDevicesKeepBothLineEdits(a, b, serverBody: serverBody)
            // Another user sees nothing of Alice's note.
            let bob = try device(server, token: try server.createToken(database: Self.database, user: "bob"))
            try bob.sync()
            #expect(try bob.rows("notes").isEmpty)
        }
    }
}
