import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncNetwork

/// Block-level text columns through a real `cloudsync-server` over HTTP on loopback.
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

    /// Two devices edit different lines offline, sync, and both keep both edits; the server's
    /// own copy holds the merged text.
    func twoDevicesKeepBothLineEdits(_ server: ServerProcess, _ a: Device, _ b: Device) throws {
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
        let handle = try Device.api.openDatabase(path: "file:\(server.databaseFile(Self.database).path)?mode=ro")
        defer { Device.api.closeDatabase(handle) }
        #expect(try Connection(handle: handle, api: Device.api).scalar("SELECT body FROM notes")?.stringValue == merged)
    }

    @Test func columnSetAndShowThenTwoDevicesKeepBothEdits() throws {
        let server = try ServerProcess()
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "body", "--algo", "block"])
        #expect(try server.admin(["column", "show", "--database", Self.database]) == "notes\tbody\tblock\t\\n")
        #expect(throws: ServerFailure.self) {
            try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "id", "--algo", "block"])
        }
        try server.start()
        try twoDevicesKeepBothLineEdits(server, try device(server, apiKey: key), try device(server, apiKey: key))
    }

    @Test func underRowLevelSecurity() throws {
        let server = try ServerProcess()
        _ = try server.createDatabase(Self.database, schema: Self.schema)
        try server.admin(["column", "set", "--database", Self.database, "--table", "notes", "--column", "body", "--algo", "block"])
        try server.setPolicy(
            database: Self.database, table: "notes", select: "user_id = auth_userid()", insert: "NEW.user_id = auth_userid()",
            update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id", delete: "OLD.user_id = auth_userid()")
        try server.start()
        let token = try server.createToken(database: Self.database, user: "alice")
        let a = try device(server, token: token), b = try device(server, token: token)
        try twoDevicesKeepBothLineEdits(server, a, b)
        // Another user sees nothing of Alice's note.
        let bob = try device(server, token: try server.createToken(database: Self.database, user: "bob"))
        try bob.sync()
        #expect(try bob.rows("notes").isEmpty)
    }

    @Test func postgresStorageRefusesBlockModeClearly() throws {
        guard let url = ProcessInfo.processInfo.environment["CLOUDSYNC_TEST_POSTGRES_URL"] else { return }
        let server = try ServerProcess(postgres: url)
        let name = "blocks-\(UUID().uuidString.prefix(8).lowercased()).sqlite"
        _ = try server.createDatabase(name, schema: Self.schema)
        do {
            try server.admin(["column", "set", "--database", name, "--table", "notes", "--column", "body", "--algo", "block"])
            Issue.record("accepted")
        } catch let failure as ServerFailure {
            #expect(failure.description.contains("not supported on PostgreSQL storage yet"))
        }
        #expect(try server.admin(["column", "show", "--database", name]) == "")
    }
}
