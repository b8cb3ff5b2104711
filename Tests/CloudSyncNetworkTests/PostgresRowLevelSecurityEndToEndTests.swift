import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import PostgresNIO
import Testing
@testable import CloudSyncNetwork

/// Row-Level Security on the PostgreSQL storage end to end: two `cloudsync-server` instances
/// on one PostgreSQL database, policies and tokens made with the CLI (`--postgres`), devices
/// signed in with tokens (and an administrator's device with the API key) syncing over
/// libcurl through the SQL functions, each sync through the other instance than the last.
///
/// Policies are PostgreSQL expressions here: `auth_json()` is jsonb.
@Suite(
    "Row-Level Security through several servers on PostgreSQL", .serialized,
    .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"),
    .enabled(if: PostgresTestDatabase.isAvailable, "PostgreSQL is not installed"))
struct PostgresRowLevelSecurityEndToEndTests {
    static let database = "shared.sqlite"
    /// Personal notes, and documents of a tenant.
    static let schema = """
        CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, title TEXT NOT NULL DEFAULT '');
        CREATE TABLE docs(id TEXT PRIMARY KEY NOT NULL, org_id TEXT, title TEXT NOT NULL DEFAULT '');
        """
    static let tables = ["notes", "docs"]

    static let personal = (
        select: "user_id = auth_userid()",
        insert: "NEW.user_id = auth_userid()",
        update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id",
        delete: "OLD.user_id = auth_userid()")
    /// The token's tenant, in PostgreSQL's SQL.
    static let tenant = "auth_json()->'attributes'->>'org_id'"

    /// Two instances on one PostgreSQL database with `shared.sqlite`, and its API key.
    final class Setup {
        let postgres: PostgresTestDatabase
        let servers: [ServerProcess]
        let key: String
        /// Devices made so far: each starts on the next instance.
        private var devices = 0

        init(postgres: PostgresTestDatabase, servers: [ServerProcess], key: String) {
            self.postgres = postgres
            self.servers = servers
            self.key = key
        }

        /// A device signed in with `token` (no API key).
        func device(token: String) throws -> AlternatingDevice {
            defer { devices += 1 }
            return try AlternatingDevice(servers: servers.map(\.url), first: devices, credential: .token(token))
        }

        /// The administrator's device (API key: no policy applies).
        func adminDevice() throws -> AlternatingDevice {
            defer { devices += 1 }
            return try AlternatingDevice(servers: servers.map(\.url), first: devices, credential: .apiKey(key))
        }

        /// `token create` through the second instance's CLI (the catalog is shared).
        func token(_ user: String, attributes: String? = nil) throws -> String {
            try servers[1].createToken(database: PostgresRowLevelSecurityEndToEndTests.database, user: user, name: user.capitalized, attributes: attributes)
        }

        func setPersonalPolicy() throws {
            let p = PostgresRowLevelSecurityEndToEndTests.personal
            try servers[0].setPolicy(database: PostgresRowLevelSecurityEndToEndTests.database, table: "notes",
                                     select: p.select, insert: p.insert, update: p.update, delete: p.delete)
        }

        /// Runs `sql` on the PostgreSQL database with the managed database's schema first in
        /// `search_path`, as another program would; returns the rows as `a|b|c` strings.
        @discardableResult
        func sql(_ sql: String) async throws -> [String] {
            try await postgres.withConnection { connection in
                var schema: String?
                for try await name in try await connection.query(
                    "SELECT schema_name FROM cloudsync.databases WHERE name = \(PostgresRowLevelSecurityEndToEndTests.database)",
                    logger: PostgresTestDatabase.logger
                ).decode(String.self) {
                    schema = name
                }
                guard let schema else { throw ServerFailure("no catalog entry for \(PostgresRowLevelSecurityEndToEndTests.database)") }
                try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \"\(schema)\""), logger: PostgresTestDatabase.logger)
                var rows: [String] = []
                do {
                    for try await text in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger).decode(String?.self) {
                        rows.append(text ?? "NULL")
                    }
                } catch let error as PSQLError {
                    throw ServerFailure("\(sql): \(error.serverInfo?[.message] ?? String(reflecting: error))")
                }
                return rows
            }
        }

        /// The server's rows of `table` (id, owner or tenant, title) as `a|b|c`, in the order
        /// of the devices' `ORDER BY 1, 2` (byte order).
        func serverRows(_ table: String) async throws -> [String] {
            let column = table == "notes" ? "user_id" : "org_id"
            return try await sql("""
                SELECT id || '|' || COALESCE(\(column), 'NULL') || '|' || title FROM \(table)
                ORDER BY id COLLATE "C", \(column) COLLATE "C"
                """)
        }

        /// Everything of the server's copy a refused upload must leave as it was: every
        /// synchronized table's rows and clocks.
        func serverState() async throws -> [String] {
            var state: [String] = []
            for table in PostgresRowLevelSecurityEndToEndTests.tables {
                state += try await serverRows(table).map { "\(table): \($0)" }
                state += try await sql("SELECT c::text FROM \"\(table)_cloudsync\" c ORDER BY c::text COLLATE \"C\"").map { "\(table)_cloudsync: \($0)" }
            }
            return state
        }
    }

    /// Two running instances with `shared.sqlite` and the suite's policies, set with
    /// `policy set --postgres` as an administrator would (personal notes, tenant documents).
    func withSetup(_ body: (Setup) async throws -> Void) async throws {
        try await PostgresTestDatabase.with { postgres in
            let servers = try (0..<2).map { _ in try ServerProcess(postgres: postgres.url) }
            let key = try servers[0].createDatabase(Self.database, schema: Self.schema)
            let setup = Setup(postgres: postgres, servers: servers, key: key)
            try setup.setPersonalPolicy()
            try servers[1].setPolicy(database: Self.database, table: "docs", select: "org_id = \(Self.tenant)", insert: "NEW.org_id = \(Self.tenant)")
            for server in servers { try server.start() }
            try await body(setup)
            for server in servers { server.stop() }
        }
    }

    /// Syncs every device `rounds` times in turn; every sync must succeed.
    func syncAll(_ devices: [AlternatingDevice], rounds: Int = 2) throws {
        for _ in 0..<rounds { for device in devices { try device.sync() } }
    }

    // MARK: Visibility

    @Test func eachDeviceEndsWithExactlyItsVisibleRowsWhicheverInstanceItSyncsThrough() async throws {
        try await withSetup { setup in
            let admin = try setup.adminDevice()
            let aliceToken = try setup.token("alice", attributes: #"{"org_id":"acme"}"#)
            let alice = try setup.device(token: aliceToken), alice2 = try setup.device(token: aliceToken)
            let bob = try setup.device(token: try setup.token("bob", attributes: #"{"org_id":"initech"}"#))
            let carol = try setup.device(token: try setup.token("carol", attributes: #"{"org_id":"acme"}"#))

            try admin.execute("INSERT INTO docs VALUES ('d1', 'acme', 'handbook'), ('d2', 'initech', 'roadmap')")
            try admin.sync()
            try alice.execute("INSERT INTO notes VALUES ('n-a1', 'alice', 'milk'); INSERT INTO docs VALUES ('d3', 'acme', 'from alice')")
            try bob.execute("INSERT INTO notes VALUES ('n-b1', 'bob', 'bread'); INSERT INTO docs VALUES ('d4', 'initech', 'from bob')")
            try carol.execute("INSERT INTO notes VALUES ('n-c1', 'carol', 'tea')")
            try alice2.execute("INSERT INTO notes VALUES ('n-a2', 'alice', 'eggs')")
            try syncAll([admin, alice, alice2, bob, carol])

            for device in [alice, alice2] {
                #expect(try device.texts("notes") == ["n-a1|alice|milk", "n-a2|alice|eggs"])
                #expect(try device.texts("docs") == ["d1|acme|handbook", "d3|acme|from alice"])
            }
            #expect(try bob.texts("notes") == ["n-b1|bob|bread"])
            #expect(try bob.texts("docs") == ["d2|initech|roadmap", "d4|initech|from bob"])
            #expect(try carol.texts("notes") == ["n-c1|carol|tea"])
            #expect(try carol.texts("docs") == ["d1|acme|handbook", "d3|acme|from alice"])
            // The administrator's device (API key) and the server hold everything.
            #expect(try admin.texts("notes") == ["n-a1|alice|milk", "n-a2|alice|eggs", "n-b1|bob|bread", "n-c1|carol|tea"])
            #expect(try admin.texts("docs") == ["d1|acme|handbook", "d2|initech|roadmap", "d3|acme|from alice", "d4|initech|from bob"])
            for table in Self.tables { #expect(try await admin.texts(table) == setup.serverRows(table), "\(table)") }

            // The administrator gives Alice's note to Bob; a program, with plain SQL on the
            // PostgreSQL tables, moves a document to the other tenant and writes a note for Bob.
            try admin.execute("UPDATE notes SET user_id = 'bob' WHERE id = 'n-a1'")
            try admin.sync()
            try await setup.sql("UPDATE docs SET org_id = 'acme' WHERE id = 'd2'")
            try await setup.sql("INSERT INTO notes(id, user_id, title) VALUES ('n-b2', 'bob', 'from the program')")
            try syncAll([admin, alice, alice2, bob, carol], rounds: 1)
            for device in [alice, alice2] {
                #expect(try device.texts("notes") == ["n-a2|alice|eggs"])
                #expect(try device.texts("docs") == ["d1|acme|handbook", "d2|acme|roadmap", "d3|acme|from alice"])
            }
            #expect(try bob.texts("notes") == ["n-a1|bob|milk", "n-b1|bob|bread", "n-b2|bob|from the program"])
            #expect(try bob.texts("docs") == ["d4|initech|from bob"])
            #expect(try carol.texts("notes") == ["n-c1|carol|tea"])
            #expect(try carol.texts("docs") == ["d1|acme|handbook", "d2|acme|roadmap", "d3|acme|from alice"])

            // Bob now owns the note: his edit goes through and reaches the administrator, not Alice.
            try bob.execute("UPDATE notes SET title = 'oat milk' WHERE id = 'n-a1'")
            try syncAll([bob, admin, alice, alice2], rounds: 1)
            #expect(try admin.texts("notes") == ["n-a1|bob|oat milk", "n-a2|alice|eggs", "n-b1|bob|bread", "n-b2|bob|from the program", "n-c1|carol|tea"])
            for table in Self.tables { #expect(try await admin.texts(table) == setup.serverRows(table), "\(table)") }
            #expect(try alice.texts("notes") == ["n-a2|alice|eggs"])
            #expect(try alice2.texts("notes") == ["n-a2|alice|eggs"])
        }
    }

    // MARK: Refused writes

    @Test func forgedAndRefusedWritesAreReportedAndUndone() async throws {
        try await withSetup { setup in
            let alice = try setup.device(token: try setup.token("alice"))
            let bob = try setup.device(token: try setup.token("bob"))
            let bob2 = try setup.device(token: try setup.token("bob"))
            let admin = try setup.adminDevice()
            try alice.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
            try bob.execute("INSERT INTO notes VALUES ('b1', 'bob', 'bread')")
            try syncAll([alice, bob, bob2])
            let before = try await setup.serverState()
            #expect(try await setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|bread"])

            // Bob's device merges Alice's changes by hand (a payload it got around the server),
            // then writes through its triggers: a row for Alice, an edit and a delete of her
            // rows, and his own row given to her.
            let payload = try #require(try alice.device.connection.scalar("""
                SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq)
                FROM cloudsync_changes WHERE tbl = 'notes'
                """))
            _ = try bob.device.connection.scalar("SELECT cloudsync_payload_decode(?1)", [payload])
            #expect(try bob.texts("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|bread"])
            try bob.execute("""
                INSERT INTO notes VALUES ('x1', 'alice', 'planted');
                UPDATE notes SET title = 'hacked' WHERE id = 'a1';
                DELETE FROM notes WHERE id = 'a2';
                UPDATE notes SET user_id = 'alice' WHERE id = 'b1';
                """)
            #expect(try bob.syncFailure() == "cloudsync_network_sync: the server refused 4 rows of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try await setup.serverState() == before)
            // The same call's check brought Bob's device back to what he may see.
            #expect(try bob.texts("notes") == ["b1|bob|bread"])
            try syncAll([alice, bob2], rounds: 1)
            #expect(try alice.texts("notes") == ["a1|alice|milk", "a2|alice|eggs"])
            #expect(try bob2.texts("notes") == ["b1|bob|bread"])
            // The refused changes are not sent again, and Bob's device syncs normally through
            // either instance.
            #expect(try !bob.hasUnsentChanges)
            #expect(try bob.sync() == 0)
            try bob.execute("UPDATE notes SET title = 'rye bread' WHERE id = 'b1'")
            try bob.sync()
            try bob2.sync()
            #expect(try bob2.texts("notes") == ["b1|bob|rye bread"])

            // Mallory writes changes straight into cloudsync_changes, stamped with her own site
            // id (so they are sent as hers) and with versions chosen to win every merge: an edit
            // of Alice's row, a new row for Alice, and one legitimate new row of her own.
            let mallory = try setup.device(token: try setup.token("mallory"))
            let rip = Change.sentinelColumn
            func forge(_ pk: String, _ column: String, _ value: SQLValue, version: Int64) throws {
                try mallory.device.connection.run(
                    "INSERT INTO cloudsync_changes(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) VALUES ('notes', cloudsync_pk_encode(?1), ?2, ?3, ?4, 1000, cloudsync_siteid(), 1, 0)",
                    [.string(pk), .string(column), value, .integer(version)])
            }
            try forge("a1", "title", .string("forged"), version: 100)
            try forge("x2", rip, .null, version: 1)
            try forge("x2", "user_id", .string("alice"), version: 1)
            try forge("x2", "title", .string("planted"), version: 1)
            try forge("m1", rip, .null, version: 1)
            try forge("m1", "user_id", .string("mallory"), version: 1)
            try forge("m1", "title", .string("legit"), version: 1)
            #expect(try mallory.hasUnsentChanges)
            #expect(try mallory.syncFailure() == "cloudsync_network_sync: the server refused 2 rows of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try await setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|rye bread", "m1|mallory|legit"])
            #expect(try mallory.texts("notes") == ["m1|mallory|legit"])
            #expect(try mallory.sync() == 0)
            #expect(try mallory.texts("notes") == ["m1|mallory|legit"])
            try syncAll([alice, bob2], rounds: 1)
            #expect(try alice.texts("notes") == ["a1|alice|milk", "a2|alice|eggs"])
            #expect(try bob2.texts("notes") == ["b1|bob|rye bread"])

            // The tenant policy: Carol may create documents of her organization only, and
            // docs has no update policy.
            let carol = try setup.device(token: try setup.token("carol", attributes: #"{"org_id":"acme"}"#))
            try carol.execute("INSERT INTO docs VALUES ('d1', 'acme', 'v1'), ('d2', 'initech', 'planted')")
            #expect(try carol.syncFailure() == "cloudsync_network_sync: the server refused 1 row of table docs (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try carol.texts("docs") == ["d1|acme|v1"])
            try carol.execute("UPDATE docs SET title = 'v2' WHERE id = 'd1'")
            #expect(try carol.syncFailure() == "cloudsync_network_sync: the server refused 1 row of table docs (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try carol.texts("docs") == ["d1|acme|v1"])
            #expect(try !carol.hasUnsentChanges)
            #expect(try carol.sync() == 0)
            #expect(try await setup.serverRows("docs") == ["d1|acme|v1"])

            // The administrator sees everything, exactly as the server holds it.
            try admin.sync()
            for table in Self.tables { #expect(try await admin.texts(table) == setup.serverRows(table), "\(table)") }
            #expect(try admin.texts("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|rye bread", "m1|mallory|legit"])
        }
    }

    // MARK: Policies changed while the instances serve

    @Test func policiesSetWhileBothInstancesRunApplyFromTheNextRequest() async throws {
        try await withSetup { setup in
            let alice = try setup.device(token: try setup.token("alice"))
            let bob = try setup.device(token: try setup.token("bob"))
            try alice.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk')")
            try bob.execute("INSERT INTO notes VALUES ('b1', 'bob', 'bread')")
            try syncAll([alice, bob])
            #expect(try alice.texts("notes") == ["a1|alice|milk"])
            #expect(try bob.texts("notes") == ["b1|bob|bread"])
            let shown = try setup.servers[1].admin(["policy", "show", "--database", Self.database, "--table", "notes"])
            #expect(shown.contains("select: user_id = auth_userid()"), "\(shown)")
            #expect(shown.contains("update: OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id"), "\(shown)")

            // Without RLS on notes, both users see and change every note, through either instance.
            try setup.servers[0].admin(["policy", "disable", "--database", Self.database, "--table", "notes"])
            try syncAll([alice, bob])
            #expect(try alice.texts("notes") == ["a1|alice|milk", "b1|bob|bread"])
            #expect(try bob.texts("notes") == ["a1|alice|milk", "b1|bob|bread"])
            try bob.execute("UPDATE notes SET title = 'oat milk' WHERE id = 'a1'")
            try syncAll([bob, alice])
            #expect(try alice.texts("notes") == ["a1|alice|oat milk", "b1|bob|bread"])

            // The policy again: each user's devices drop the other's note on their next sync,
            // and Bob's write to Alice's note is refused again.
            try setup.setPersonalPolicy()
            try syncAll([alice, bob], rounds: 1)
            #expect(try alice.texts("notes") == ["a1|alice|oat milk"])
            #expect(try bob.texts("notes") == ["b1|bob|bread"])
            try bob.execute("INSERT INTO notes VALUES ('a1', 'bob', 'taken')")
            #expect(try bob.syncFailure() == "cloudsync_network_sync: the server refused 1 row of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
            #expect(try bob.texts("notes") == ["b1|bob|bread"])
            try syncAll([alice, bob], rounds: 1)
            #expect(try alice.texts("notes") == ["a1|alice|oat milk"])
            #expect(try await setup.serverRows("notes") == ["a1|alice|oat milk", "b1|bob|bread"])
        }
    }
}

/// A device that syncs through the instances in turn: every sync goes through the next
/// server (the session is set up again, with the same credential; the cursors stay in the
/// device's database).
final class AlternatingDevice {
    enum Credential {
        case apiKey(String)
        case token(String)
    }

    let device: Device
    let servers: [String]
    let credential: Credential
    private var next = 0

    /// Syncs first through `servers[first % servers.count]`.
    init(servers: [String], first: Int, credential: Credential) throws {
        self.servers = servers
        self.credential = credential
        next = first % servers.count
        device = try Device(schema: PostgresRowLevelSecurityEndToEndTests.schema, server: servers[0], database: PostgresRowLevelSecurityEndToEndTests.database, apiKey: "")
        try signIn()
    }

    private func signIn() throws {
        try device.connection.run("SELECT cloudsync_network_init(?1)", [.string("\(servers[next])/\(PostgresRowLevelSecurityEndToEndTests.database)")])
        switch credential {
        case .apiKey(let key): try device.connection.run("SELECT cloudsync_network_set_apikey(?1)", [.string(key)])
        case .token(let token): try device.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(token)])
        }
    }

    func execute(_ sql: String) throws { try device.execute(sql) }

    /// `cloudsync_network_sync()` through the next instance: the number of changes received.
    @discardableResult
    func sync() throws -> Int64 {
        try signIn()
        next = (next + 1) % servers.count
        return try device.sync()
    }

    /// The message of the SQL error `cloudsync_network_sync()` fails with; nil if it succeeds.
    func syncFailure() throws -> String? {
        do {
            try sync()
            return nil
        } catch let error as CloudSyncError {
            return error.message
        }
    }

    var hasUnsentChanges: Bool { get throws { try device.hasUnsentChanges } }

    /// The rows of `table` as `a|b|c` strings, ordered by their first columns.
    func texts(_ table: String) throws -> [String] {
        try device.connection.rows("SELECT * FROM \(table) ORDER BY 1, 2").map(rowText)
    }
}
