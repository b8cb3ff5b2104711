import CloudSyncTestSupport
import CloudSyncCore
import Foundation
import Testing
@testable import CloudSyncNetwork

/// Access tokens and Row-Level Security end to end: a real `cloudsync-server` process, policies
/// and tokens made with its CLI, devices syncing over libcurl through the SQL functions
/// (`cloudsync_network_set_token`, `cloudsync_network_sync`, `cloudsync_network_logout`).
@Suite("Row-Level Security through the server", .serialized, .enabled(if: ServerProcess.isAvailable, "build cloudsync-server first (scripts/test does)"))
struct RowLevelSecurityEndToEndTests {
    static let database = "shared.sqlite"
    /// Personal notes, tasks shared through project memberships, and documents of a tenant.
    static let schema = """
        CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT, title TEXT NOT NULL DEFAULT '');
        CREATE TABLE tasks(id TEXT PRIMARY KEY NOT NULL, project_id TEXT, title TEXT NOT NULL DEFAULT '');
        CREATE TABLE members(project_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(project_id, user_id));
        CREATE TABLE docs(id TEXT PRIMARY KEY NOT NULL, org_id TEXT, title TEXT NOT NULL DEFAULT '');
        """
    static let tables = ["notes", "tasks", "members", "docs"]

    /// A running server with `shared.sqlite` and its API key, policies set through the CLI.
    struct Setup {
        let server: ServerProcess
        let key: String

        /// A device signed in with `token` (no API key).
        func device(token: String) throws -> Device {
            let device = try Device(schema: RowLevelSecurityEndToEndTests.schema, server: server.url, database: RowLevelSecurityEndToEndTests.database, apiKey: "")
            try device.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(token)])
            return device
        }

        /// The administrator's device (API key: no policy applies).
        func adminDevice() throws -> Device {
            try Device(schema: RowLevelSecurityEndToEndTests.schema, server: server.url, database: RowLevelSecurityEndToEndTests.database, apiKey: key)
        }

        func token(_ user: String, attributes: String? = nil, expires: Int? = nil) throws -> String {
            try server.createToken(database: RowLevelSecurityEndToEndTests.database, user: user, name: user.capitalized, attributes: attributes, expires: expires)
        }

        /// The server's rows of `table`, read from its database file with a read-only connection.
        func serverRows(_ table: String) throws -> [String] {
            try readOnlyRows(server.databaseFile(RowLevelSecurityEndToEndTests.database).path, "SELECT * FROM \(table) ORDER BY 1, 2")
        }

        /// Everything of the server's copy a refused upload must leave as it was: every
        /// synchronized table's rows and clocks.
        func serverState() throws -> [String] {
            var state: [String] = []
            for table in RowLevelSecurityEndToEndTests.tables {
                state += try serverRows(table).map { "\(table): \($0)" }
                state += try readOnlyRows(server.databaseFile(RowLevelSecurityEndToEndTests.database).path,
                                          "SELECT * FROM \(table)_cloudsync ORDER BY 1, 2").map { "\(table)_cloudsync: \($0)" }
            }
            return state
        }
    }

    static let personal = (
        select: "user_id = auth_userid()",
        insert: "NEW.user_id = auth_userid()",
        update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id",
        delete: "OLD.user_id = auth_userid()")

    /// A server with every policy of the suite, set with `policy set` as an administrator would.
    func setup() throws -> Setup {
        let server = try ServerProcess()
        let key = try server.createDatabase(Self.database, schema: Self.schema)
        let p = Self.personal
        try server.setPolicy(database: Self.database, table: "notes", select: p.select, insert: p.insert, update: p.update, delete: p.delete)
        try server.setPolicy(
            database: Self.database, table: "tasks",
            select: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = tasks.project_id AND m.user_id = auth_userid())",
            insert: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = NEW.project_id AND m.user_id = auth_userid())",
            update: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = OLD.project_id AND m.user_id = auth_userid()) AND NEW.project_id = OLD.project_id")
        try server.setPolicy(database: Self.database, table: "members", select: "user_id = auth_userid()")
        try server.setPolicy(
            database: Self.database, table: "docs",
            select: "org_id = json_extract(auth_json(), '$.attributes.org_id')",
            insert: "NEW.org_id = json_extract(auth_json(), '$.attributes.org_id')")
        try server.start()
        return Setup(server: server, key: key)
    }

    /// Syncs every device `rounds` times in turn; every sync must succeed.
    func syncAll(_ devices: [Device], rounds: Int = 2) throws {
        for _ in 0..<rounds { for device in devices { try device.sync() } }
    }

    // MARK: Visibility

    @Test func eachDeviceEndsWithExactlyItsVisibleRows() throws {
        let setup = try setup()
        let admin = try setup.adminDevice()
        let aliceToken = try setup.token("alice", attributes: #"{"org_id":"acme"}"#)
        let alice = try setup.device(token: aliceToken), alice2 = try setup.device(token: aliceToken)
        let bob = try setup.device(token: try setup.token("bob", attributes: #"{"org_id":"initech"}"#))
        let carol = try setup.device(token: try setup.token("carol", attributes: #"{"org_id":"acme"}"#))

        try admin.execute("""
            INSERT INTO members VALUES ('p1', 'alice'), ('p1', 'bob'), ('p2', 'bob');
            INSERT INTO tasks VALUES ('t1', 'p1', 'plan'), ('t2', 'p2', 'budget');
            INSERT INTO docs VALUES ('d1', 'acme', 'handbook'), ('d2', 'initech', 'roadmap');
            """)
        try admin.sync()
        try alice.execute("""
            INSERT INTO notes VALUES ('n-a1', 'alice', 'milk');
            INSERT INTO tasks VALUES ('t3', 'p1', 'from alice');
            INSERT INTO docs VALUES ('d3', 'acme', 'from alice');
            """)
        try bob.execute("INSERT INTO notes VALUES ('n-b1', 'bob', 'bread'); INSERT INTO docs VALUES ('d4', 'initech', 'from bob')")
        try carol.execute("INSERT INTO notes VALUES ('n-c1', 'carol', 'tea')")
        try alice2.execute("INSERT INTO notes VALUES ('n-a2', 'alice', 'eggs')")
        try syncAll([admin, alice, alice2, bob, carol])

        for device in [alice, alice2] {
            #expect(try texts(device, "notes") == ["n-a1|alice|milk", "n-a2|alice|eggs"])
            #expect(try texts(device, "tasks") == ["t1|p1|plan", "t3|p1|from alice"])
            #expect(try texts(device, "members") == ["p1|alice"])
            #expect(try texts(device, "docs") == ["d1|acme|handbook", "d3|acme|from alice"])
        }
        #expect(try texts(bob, "notes") == ["n-b1|bob|bread"])
        #expect(try texts(bob, "tasks") == ["t1|p1|plan", "t2|p2|budget", "t3|p1|from alice"])
        #expect(try texts(bob, "members") == ["p1|bob", "p2|bob"])
        #expect(try texts(bob, "docs") == ["d2|initech|roadmap", "d4|initech|from bob"])
        #expect(try texts(carol, "notes") == ["n-c1|carol|tea"])
        #expect(try texts(carol, "tasks") == [])
        #expect(try texts(carol, "members") == [])
        #expect(try texts(carol, "docs") == ["d1|acme|handbook", "d3|acme|from alice"])
        // The administrator's device (API key) and the server hold everything.
        #expect(try texts(admin, "notes") == ["n-a1|alice|milk", "n-a2|alice|eggs", "n-b1|bob|bread", "n-c1|carol|tea"])
        #expect(try texts(admin, "docs") == ["d1|acme|handbook", "d2|initech|roadmap", "d3|acme|from alice", "d4|initech|from bob"])
        for table in Self.tables { #expect(try texts(admin, table) == setup.serverRows(table)) }

        // Membership changes move shared rows: Bob leaves p1, Alice joins p2.
        try admin.execute("DELETE FROM members WHERE project_id = 'p1' AND user_id = 'bob'; INSERT INTO members VALUES ('p2', 'alice')")
        try syncAll([admin, alice, alice2, bob, carol], rounds: 1)
        #expect(try texts(bob, "tasks") == ["t2|p2|budget"])
        #expect(try texts(bob, "members") == ["p2|bob"])
        for device in [alice, alice2] {
            #expect(try texts(device, "tasks") == ["t1|p1|plan", "t2|p2|budget", "t3|p1|from alice"])
            #expect(try texts(device, "members") == ["p1|alice", "p2|alice"])
        }
        #expect(try texts(carol, "tasks") == [])
    }

    @Test func aRowMovedByTheAdministratorLeavesTheFirstUserAndReachesTheSecond() throws {
        let setup = try setup()
        let admin = try setup.adminDevice()
        let aliceToken = try setup.token("alice")
        let alice = try setup.device(token: aliceToken), alice2 = try setup.device(token: aliceToken)
        let bob = try setup.device(token: try setup.token("bob"))
        try alice.execute("INSERT INTO notes VALUES ('n1', 'alice', 'report'), ('n2', 'alice', 'slides')")
        try bob.execute("INSERT INTO notes VALUES ('n3', 'bob', 'bread')")
        try syncAll([alice, alice2, bob, admin])
        #expect(try texts(alice2, "notes") == ["n1|alice|report", "n2|alice|slides"])
        #expect(try texts(bob, "notes") == ["n3|bob|bread"])

        try admin.execute("UPDATE notes SET user_id = 'bob' WHERE id = 'n1'")
        try admin.sync()
        try syncAll([alice, alice2, bob], rounds: 1)
        #expect(try texts(alice, "notes") == ["n2|alice|slides"])
        #expect(try texts(alice2, "notes") == ["n2|alice|slides"])
        #expect(try texts(bob, "notes") == ["n1|bob|report", "n3|bob|bread"])

        // Bob now owns it: his edit goes through and reaches the administrator, not Alice.
        try bob.execute("UPDATE notes SET title = 'report v2' WHERE id = 'n1'")
        try syncAll([bob, admin, alice], rounds: 1)
        #expect(try texts(admin, "notes") == ["n1|bob|report v2", "n2|alice|slides", "n3|bob|bread"])
        #expect(try setup.serverRows("notes") == ["n1|bob|report v2", "n2|alice|slides", "n3|bob|bread"])
        #expect(try texts(alice, "notes") == ["n2|alice|slides"])
    }

    // MARK: Malicious clients

    @Test func writesToRowsObtainedFromAnotherDevicesPayloadAreRefused() throws {
        let setup = try setup()
        let alice = try setup.device(token: try setup.token("alice"))
        let bob = try setup.device(token: try setup.token("bob"))
        let bob2 = try setup.device(token: try setup.token("bob"))
        try alice.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
        try bob.execute("INSERT INTO notes VALUES ('b1', 'bob', 'bread')")
        try syncAll([alice, bob, bob2])
        let before = try setup.serverState()
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|bread"])

        // Bob's device merges Alice's changes by hand (a payload it got around the server),
        // then writes through its triggers: a row for Alice, an edit and a delete of her rows,
        // and his own row given to her.
        let payload = try #require(try alice.connection.scalar("""
            SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq)
            FROM cloudsync_changes WHERE tbl = 'notes'
            """))
        _ = try bob.connection.scalar("SELECT cloudsync_payload_decode(?1)", [payload])
        #expect(try texts(bob, "notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|bread"])
        try bob.execute("""
            INSERT INTO notes VALUES ('x1', 'alice', 'planted');
            UPDATE notes SET title = 'hacked' WHERE id = 'a1';
            DELETE FROM notes WHERE id = 'a2';
            UPDATE notes SET user_id = 'alice' WHERE id = 'b1';
            """)
        #expect(try syncFailure(bob) == "cloudsync_network_sync: the server refused 4 rows of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
        #expect(try setup.serverState() == before)
        // The same call's check brought Bob's device back to what he may see.
        #expect(try texts(bob, "notes") == ["b1|bob|bread"])
        // Nobody else is affected.
        try syncAll([alice, bob2], rounds: 1)
        #expect(try texts(alice, "notes") == ["a1|alice|milk", "a2|alice|eggs"])
        #expect(try texts(bob2, "notes") == ["b1|bob|bread"])

        // The refused changes are not sent again, and Bob's device syncs normally.
        #expect(try !bob.hasUnsentChanges)
        #expect(try bob.sync() == 0)
        try bob.execute("UPDATE notes SET title = 'rye bread' WHERE id = 'b1'")
        try bob.sync()
        try bob2.sync()
        #expect(try texts(bob2, "notes") == ["b1|bob|rye bread"])
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|rye bread"])
    }

    @Test func changesForgedWithoutTheTriggersAreRefused() throws {
        let setup = try setup()
        let alice = try setup.device(token: try setup.token("alice"))
        let mallory = try setup.device(token: try setup.token("mallory"))
        try alice.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
        try mallory.execute("INSERT INTO notes VALUES ('m1', 'mallory', 'mine')")
        try syncAll([alice, mallory])
        let before = try setup.serverRows("notes")
        #expect(before == ["a1|alice|milk", "a2|alice|eggs", "m1|mallory|mine"])

        // Changes written straight into cloudsync_changes, stamped with Mallory's own site id
        // (so they are sent as hers) and with versions chosen to win every merge: an edit of
        // Alice's row, a new row for Alice, a delete of Alice's row, her own row given to
        // Alice; and one legitimate new row of her own.
        let rip = Change.sentinelColumn
        func forge(_ pk: String, _ column: String, _ value: SQLValue, version: Int64, cl: Int64 = 1) throws {
            try mallory.connection.run(
                "INSERT INTO cloudsync_changes(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) VALUES ('notes', cloudsync_pk_encode(?1), ?2, ?3, ?4, 1000, cloudsync_siteid(), ?5, 0)",
                [.string(pk), .string(column), value, .integer(version), .integer(cl)])
        }
        try forge("a1", "title", .string("forged"), version: 100)
        try forge("x1", rip, .null, version: 1)
        try forge("x1", "user_id", .string("alice"), version: 1)
        try forge("x1", "title", .string("planted"), version: 1)
        try forge("a2", rip, .null, version: 2, cl: 2)
        try forge("m1", "user_id", .string("alice"), version: 100)
        try forge("m2", rip, .null, version: 1)
        try forge("m2", "user_id", .string("mallory"), version: 1)
        try forge("m2", "title", .string("legit"), version: 1)
        #expect(try mallory.hasUnsentChanges)

        #expect(try syncFailure(mallory) == "cloudsync_network_sync: the server refused 4 rows of table notes (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "m1|mallory|mine", "m2|mallory|legit"])
        #expect(try texts(mallory, "notes") == ["m1|mallory|mine", "m2|mallory|legit"])
        try alice.sync()
        #expect(try texts(alice, "notes") == ["a1|alice|milk", "a2|alice|eggs"])
        #expect(try mallory.sync() == 0)
        #expect(try texts(mallory, "notes") == ["m1|mallory|mine", "m2|mallory|legit"])
    }

    @Test func aRefusedEditOfOnesOwnRowIsUndoneOnceAndNotSentAgain() throws {
        let setup = try setup()
        // docs has no update policy: a row may be created, not changed.
        let carol = try setup.device(token: try setup.token("carol", attributes: #"{"org_id":"acme"}"#))
        let carol2 = try setup.device(token: try setup.token("carol", attributes: #"{"org_id":"acme"}"#))
        try carol.execute("INSERT INTO docs VALUES ('d1', 'acme', 'v1')")
        try carol.sync()
        try carol.execute("UPDATE docs SET title = 'v2' WHERE id = 'd1'")
        #expect(try syncFailure(carol) == "cloudsync_network_sync: the server refused 1 row of table docs (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
        #expect(try texts(carol, "docs") == ["d1|acme|v1"])
        // The server's version of her own row is not a change of hers to send back.
        #expect(try !carol.hasUnsentChanges)
        for _ in 0..<2 { #expect(try carol.sync() == 0) }
        #expect(try setup.serverRows("docs") == ["d1|acme|v1"])
        try carol2.sync()
        #expect(try texts(carol2, "docs") == ["d1|acme|v1"])
    }

    @Test func aSiteIdFirstUsedByOneUserIsForbiddenToAnother() throws {
        let setup = try setup()
        let aliceDevice = try setup.device(token: try setup.token("alice"))
        try aliceDevice.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk')")
        try aliceDevice.sync()
        let bob = try setup.device(token: try setup.token("bob"))
        try bob.execute("INSERT INTO notes VALUES ('b1', 'bob', 'bread')")
        try bob.sync()

        // Alice's device presents Bob's token with the site id bound to Alice.
        let site = try #require(try aliceDevice.connection.scalar("SELECT lower(hex(cloudsync_siteid()))")?.stringValue)
        try aliceDevice.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(try setup.token("bob"))])
        let statuses = try recordStatuses(aliceDevice)
        try aliceDevice.execute("INSERT INTO notes VALUES ('b2', 'bob', 'sneaked in')")
        let message = try syncFailure(aliceDevice)
        #expect(message == "cloudsync_network_sync: site id \(site) belongs to another user of this database: each user needs their own site id; on a device that changes user, call cloudsync_network_logout() to get a new site id")
        #expect(statuses.all == [403])
        #expect(try texts(aliceDevice, "notes") == ["a1|alice|milk", "b2|bob|sneaked in"])
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "b1|bob|bread"])
    }

    // MARK: Tokens

    @Test func expiredTamperedWrongAlgorithmAndRevokedTokensGet401() throws {
        let setup = try setup()
        let admin = try setup.adminDevice()
        try admin.execute("INSERT INTO notes VALUES ('a1', 'alice', 'milk'), ('b1', 'bob', 'bread')")
        try admin.sync()
        // Issued first, so the wait for its expiry overlaps the other cases. (Not used before
        // it expires: `exp` is in whole seconds, so a 1-second token may live only a few ms.)
        let expiring = try setup.token("alice", expires: 1)
        let issued = Date()

        let aliceToken = try setup.token("alice")
        let parts = aliceToken.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        // Tampered: Alice's token claiming to be Bob (payload part changed, signature kept).
        let claims = try #require(base64URLDecode(parts[1]))
        let asBob = String(decoding: claims, as: UTF8.self).replacingOccurrences(of: #""sub":"alice""#, with: #""sub":"bob""#)
        #expect(asBob.contains(#""sub":"bob""#))
        let tampered = [parts[0], base64URLEncode(Data(asBob.utf8)), parts[2]].joined(separator: ".")
        // One character of the payload part flipped.
        var flippedPayload = Array(parts[1])
        flippedPayload[10] = flippedPayload[10] == "A" ? "B" : "A"
        let flipped = [parts[0], String(flippedPayload), parts[2]].joined(separator: ".")
        // Wrong algorithms, hand-built: alg none without a signature, HS384 with Alice's claims.
        let none = [base64URLEncode(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)), parts[1], ""].joined(separator: ".")
        let hs384 = [base64URLEncode(Data(#"{"alg":"HS384","typ":"JWT"}"#.utf8)), parts[1], parts[2]].joined(separator: ".")
        let cases: [(String, String, String)] = [
            ("tampered", tampered, "access token signature is not valid"),
            ("alg none", none, "access token algorithm 'none' is not accepted; this server accepts only HS256"),
            ("HS384", hs384, "access token algorithm 'HS384' is not accepted; this server accepts only HS256"),
        ]
        for (label, token, reason) in cases {
            let device = try setup.device(token: token)
            let statuses = try recordStatuses(device)
            try device.execute("INSERT INTO notes VALUES ('\(label)', 'bob', 'x')")
            #expect(try syncFailure(device) == "cloudsync_network_sync: \(reason)", "\(label)")
            #expect(statuses.all == [401], "\(label)")
            #expect(try device.hasUnsentChanges, "\(label)")
            #expect(try texts(device, "notes") == ["\(label)|bob|x"], "\(label)")
        }
        // A flipped character may break the claims' JSON or only the signature: refused either way.
        let flippedDevice = try setup.device(token: flipped)
        let flippedStatuses = try recordStatuses(flippedDevice)
        let flippedMessage = try syncFailure(flippedDevice) ?? ""
        #expect(flippedMessage == "cloudsync_network_sync: access token signature is not valid"
                || flippedMessage == "cloudsync_network_sync: malformed access token: its signature or claims cannot be read", "\(flippedMessage)")
        #expect(flippedStatuses.all == [401])

        // Revoked: works, then `token revoke`, then refused from the next request on.
        let revokedDevice = try setup.device(token: aliceToken)
        try revokedDevice.sync()
        #expect(try texts(revokedDevice, "notes") == ["a1|alice|milk"])
        try setup.server.revokeToken(aliceToken)
        let revokedStatuses = try recordStatuses(revokedDevice)
        #expect(try syncFailure(revokedDevice) == "cloudsync_network_sync: access token was revoked")
        #expect(revokedStatuses.all == [401])

        // Expired.
        let remaining = 2.1 - Date().timeIntervalSince(issued)
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining) }
        let short = try setup.device(token: expiring)
        try short.execute("INSERT INTO notes VALUES ('late', 'alice', 'x')")
        let expiredStatuses = try recordStatuses(short)
        let expiredMessage = try syncFailure(short) ?? ""
        #expect(expiredMessage.hasPrefix("cloudsync_network_sync: access token expired at "), "\(expiredMessage)")
        #expect(expiredMessage.hasSuffix(": ask for a new one"), "\(expiredMessage)")
        #expect(expiredStatuses.all == [401])
        #expect(try short.hasUnsentChanges)

        // Nothing reached the server; the API key device sees everything.
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "b1|bob|bread"])
        try admin.sync()
        #expect(try texts(admin, "notes") == ["a1|alice|milk", "b1|bob|bread"])
    }

    @Test func logoutClearsTheDeviceAndAnotherUserStartsFresh() throws {
        let setup = try setup()
        let admin = try setup.adminDevice()
        try admin.execute("""
            INSERT INTO notes VALUES ('a1', 'alice', 'milk'), ('b1', 'bob', 'bread');
            INSERT INTO members VALUES ('p1', 'alice'), ('p1', 'bob');
            INSERT INTO tasks VALUES ('t1', 'p1', 'shared');
            """)
        try admin.sync()
        let device = try setup.device(token: try setup.token("alice"))
        try device.execute("INSERT INTO notes VALUES ('a2', 'alice', 'eggs')")
        try device.sync()
        #expect(try texts(device, "notes") == ["a1|alice|milk", "a2|alice|eggs"])
        #expect(try texts(device, "tasks") == ["t1|p1|shared"])
        let aliceSite = try device.connection.scalar("SELECT hex(cloudsync_siteid())")

        _ = try device.connection.scalar("SELECT cloudsync_network_logout()")
        for table in Self.tables { #expect(try texts(device, table) == [], "\(table)") }
        #expect(try device.connection.scalar("SELECT hex(cloudsync_siteid())") != aliceSite)
        #expect(try !device.hasUnsentChanges)
        #expect(try syncFailure(device) == "cloudsync_network_sync: no credential: call cloudsync_network_set_apikey(key) or cloudsync_network_set_token(token) first")
        // Logging out deleted nothing on the server.
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|bread"])

        try device.connection.run("SELECT cloudsync_network_set_token(?1)", [.string(try setup.token("bob"))])
        #expect(try device.sync() > 0)
        #expect(try texts(device, "notes") == ["b1|bob|bread"])
        #expect(try texts(device, "tasks") == ["t1|p1|shared"])
        #expect(try texts(device, "members") == ["p1|bob"])
        try device.execute("UPDATE notes SET title = 'rye bread' WHERE id = 'b1'")
        try device.sync()
        #expect(try setup.serverRows("notes") == ["a1|alice|milk", "a2|alice|eggs", "b1|bob|rye bread"])
    }
}

// MARK: Helpers

/// The rows of `table` on `device` as `a|b|c` strings, ordered by their first columns.
private func texts(_ device: Device, _ table: String) throws -> [String] {
    try device.connection.rows("SELECT * FROM \(table) ORDER BY 1, 2").map(rowText)
}

/// A row as `a|b|c` (NULL as `NULL`).
func rowText(_ row: [SQLValue]) -> String {
    row.map { value in
        switch value {
        case .null: "NULL"
        case .text: value.stringValue ?? ""
        default: value.description
        }
    }.joined(separator: "|")
}

/// Rows read with a read-only connection (no engine), as `a|b|c` strings.
private func readOnlyRows(_ path: String, _ sql: String) throws -> [String] {
    let handle = try Device.api.openDatabase(path: "file:\(path)?mode=ro")
    defer { Device.api.closeDatabase(handle) }
    return try Connection(handle: handle, api: Device.api).rows(sql).map(rowText)
}

/// The message of the SQL error `SELECT cloudsync_network_sync()` fails with; nil if it succeeds.
private func syncFailure(_ device: Device) throws -> String? {
    do {
        try device.sync()
        return nil
    } catch let error as CloudSyncError {
        return error.message
    }
}

/// Records the HTTP status of every response the device's session gets from now on; the
/// requests still go over libcurl.
private func recordStatuses(_ device: Device) throws -> StatusRecorder {
    let session = try #require(NetworkFunctions.session(of: device.context))
    let recorder = StatusRecorder(session.transport)
    session.transport = recorder
    return recorder
}

private final class StatusRecorder: HTTPTransport {
    let inner: any HTTPTransport
    private(set) var all: [Int] = []
    var last: Int? { all.last }

    init(_ inner: any HTTPTransport) { self.inner = inner }

    func send(_ request: HTTPRequest) throws(CloudSyncError) -> HTTPResponse {
        let response = try inner.send(request)
        all.append(response.status)
        return response
    }
}

private func base64URLEncode(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

private func base64URLDecode(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    return Data(base64Encoded: base64)
}
