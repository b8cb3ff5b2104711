import CloudSyncCore
import Foundation
import Testing

@testable import CloudSyncServer

/// Row-Level Security through the storage: policies, guarded uploads, filtered downloads.
@Suite("Row-Level Security")
struct RowLevelSecurityTests {
    static let personal = TablePolicy(
        table: "tasks",
        select: "user_id = auth_userid()",
        insert: "NEW.user_id = auth_userid()",
        update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id",
        delete: "OLD.user_id = auth_userid()")

    /// The token's `attributes.org_id` in the backend's SQL: `auth_json()` is JSON text on the
    /// embedded storage, jsonb on PostgreSQL.
    static func tokenOrgID(_ backend: StorageBackend) -> String {
        backend.pick(embedded: "json_extract(auth_json(), '$.attributes.org_id')", postgres: "auth_json()->'attributes'->>'org_id'")
    }

    @Test("policies are validated when set, shown, and disabled", arguments: StorageBackend.allCases)
    func policyAdministration(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            var cases: [(TablePolicy, String)] = [
                (TablePolicy(table: "nope", select: "1"), "not a synchronized table"),
                (TablePolicy(table: "tasks", select: "owner = auth_userid()"),
                 backend.pick(embedded: "no such column: owner", postgres: #"column "owner" does not exist"#)),
                (TablePolicy(table: "tasks", select: "NEW.user_id = auth_userid()"), "NEW and OLD"),
                (TablePolicy(table: "tasks", insert: "OLD.user_id = auth_userid()"), "OLD does not exist"),
                (TablePolicy(table: "tasks", delete: "NEW.user_id = auth_userid()"), "NEW does not exist"),
                (TablePolicy(table: "tasks", update: "NEW.owner = 1"), "no column owner"),
                (TablePolicy(table: "tasks", select: "auth_user() = user_id"),
                 backend.pick(embedded: "no such function: auth_user", postgres: "function auth_user() does not exist")),
                (TablePolicy(table: "tasks", select: "EXISTS (SELECT 1 FROM membrs)"),
                 backend.pick(embedded: "no such table: membrs", postgres: #"relation "membrs" does not exist"#)),
                (TablePolicy(table: "tasks", select: "user_id = 1) OR (1"), "unbalanced ')'"),
                (TablePolicy(table: "tasks", select: "user_id = = 1"), backend.pick(embedded: "does not compile", postgres: "syntax error")),
            ]
            if backend == .postgres {
                // An expression of the embedded storage's dialect: auth_json() is jsonb here.
                cases.append((TablePolicy(table: "tasks", select: "org_id = json_extract(auth_json(), '$.attributes.org_id')"),
                              "function json_extract(jsonb, unknown) does not exist"))
            }
            for (policy, reason) in cases {
                do {
                    try await storage.setPolicy(policy, database: "shared")
                    Issue.record("\(policy) was accepted; expected an invalidPolicy error containing \"\(reason)\"")
                } catch let error as SyncStorageError {
                    #expect(error.kind == .invalidPolicy && error.message.contains(reason), "\(policy): expected \"\(reason)\", got \(error)")
                }
            }
            #expect(try await storage.policies(database: "shared", table: nil).isEmpty)

            try await storage.setPolicy(Self.personal, database: "shared")
            try await storage.setPolicy(TablePolicy(table: "MEMBERS", select: "user_id = auth_userid()"), database: "shared")
            #expect(try await storage.policies(database: "shared", table: nil).map(\.table) == ["members", "tasks"])
            #expect(try await storage.policies(database: "shared", table: "TASKS") == [Self.personal])
            try await storage.disablePolicy(database: "shared", table: "members")
            #expect(try await storage.policies(database: "shared", table: nil) == [Self.personal])
            await #expect(throws: SyncStorageError.self) { try await storage.disablePolicy(database: "shared", table: "members") }
            await #expect(throws: SyncStorageError(.unknownDatabase, "database nope does not exist")) {
                try await storage.setPolicy(Self.personal, database: "nope")
            }
        }
    }

    @Test("each user syncs only their own rows; the administrator sees all", arguments: StorageBackend.allCases)
    func personalRows(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(Self.personal, database: "shared")
            let alice = try RLSDevice(claims("alice"))
            let alice2 = try RLSDevice(claims("alice"))
            let bob = try RLSDevice(claims("bob"))
            let admin = try RLSDevice(.administrator)
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
            try bob.execute("INSERT INTO tasks(id, user_id, title) VALUES ('b1', 'bob', 'bread')")
            #expect(try await alice.sync(storage).isEmpty)
            #expect(try await bob.sync(storage).isEmpty)
            try await alice.sync(storage)
            try await alice2.sync(storage)
            try await admin.sync(storage)
            #expect(try alice.taskIDs() == ["a1", "a2"])
            #expect(try alice2.taskIDs() == ["a1", "a2"])
            #expect(try bob.taskIDs() == ["b1"])
            #expect(try admin.taskIDs() == ["a1", "a2", "b1"])

            // Edits and deletes flow between a user's devices, and to nobody else.
            try alice2.execute("UPDATE tasks SET title = 'oat milk' WHERE id = 'a1'; DELETE FROM tasks WHERE id = 'a2'")
            try await alice2.sync(storage)
            try await alice.sync(storage)
            try await bob.sync(storage)
            #expect(try alice.tasks() == alice2.tasks())
            #expect(try alice.tasks().map { $0[4].stringValue } == ["oat milk"])
            #expect(try bob.taskIDs() == ["b1"])
        }
    }

    @Test("hand-made uploads that break the policy are refused, reported, and undone on the device", arguments: StorageBackend.allCases)
    func craftedUploads(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(Self.personal, database: "shared")
            let alice = try RLSDevice(claims("alice"))
            let bob = try RLSDevice(claims("bob"))
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
            try bob.execute("INSERT INTO tasks(id, user_id, title) VALUES ('b1', 'bob', 'bread')")
            try await alice.sync(storage)
            try await bob.sync(storage)
            let before = try await serverTasks(data)

            // Bob's device gets copies of Alice's rows by hand (merging her changes the way a
            // malicious client could), then writes to them through its triggers.
            let aliceChanges = try #require(try alice.device.context.encodePayload(where: [.table("tasks")]))
            try bob.device.context.applyPayload(aliceChanges.payload)
            try bob.execute("""
                INSERT INTO tasks(id, user_id, title) VALUES ('x1', 'alice', 'planted');
                UPDATE tasks SET title = 'hacked' WHERE id = 'a1';
                DELETE FROM tasks WHERE id = 'a2';
                UPDATE tasks SET user_id = 'alice' WHERE id = 'b1';
                """)
            let denied = try await bob.sync(storage)
            #expect(denied == [DeniedRows(table: "tasks", rows: 4)])
            #expect(try await serverTasks(data) == before)

            // The check after the refused upload brought Bob's device back to what he may see.
            #expect(try bob.tasks() == before.filter { $0[1] == .string("bob") })
            try await alice.sync(storage)
            #expect(try alice.tasks() == before.filter { $0[1] == .string("alice") })

            // Bob's device keeps working normally afterwards.
            try bob.execute("UPDATE tasks SET title = 'rye bread' WHERE id = 'b1'")
            #expect(try await bob.sync(storage).isEmpty)
            #expect(try await serverTasks(data).first { $0[0] == .string("b1") }?[4] == .string("rye bread"))
        }
    }

    @Test("a row moved from one user to another leaves the first user's devices and reaches the second's", arguments: StorageBackend.allCases)
    func movedRow(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(Self.personal, database: "shared")
            let admin = try RLSDevice(.administrator)
            let alice = try RLSDevice(claims("alice"))
            let alice2 = try RLSDevice(claims("alice"))
            let bob = try RLSDevice(claims("bob"))
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('t1', 'alice', 'report'), ('t2', 'alice', 'slides')")
            try await alice.sync(storage)
            try await alice2.sync(storage)
            try await bob.sync(storage)
            try await admin.sync(storage)
            #expect(try alice2.taskIDs() == ["t1", "t2"])

            try admin.execute("UPDATE tasks SET user_id = 'bob' WHERE id = 't1'")
            try await admin.sync(storage)
            try await alice.sync(storage)
            try await bob.sync(storage)
            #expect(try alice.taskIDs() == ["t2"])
            #expect(try bob.taskIDs() == ["t1"])
            #expect(try bob.tasks().first?[4] == .string("report"))

            // Bob edits it; it moves back; Alice gets it whole, with Bob's edit, and both of
            // her devices keep editing it normally.
            try bob.execute("UPDATE tasks SET title = 'report v2' WHERE id = 't1'")
            try await bob.sync(storage)
            try admin.execute("UPDATE tasks SET user_id = 'alice' WHERE id = 't1'")
            try await admin.sync(storage)
            try await bob.sync(storage)
            try await alice.sync(storage)
            try await alice2.sync(storage)
            #expect(try bob.taskIDs().isEmpty)
            #expect(try alice.tasks() == alice2.tasks())
            #expect(try alice.tasks().first { $0[0] == .string("t1") }?[4] == .string("report v2"))
            try alice2.execute("UPDATE tasks SET title = 'report v3' WHERE id = 't1'")
            #expect(try await alice2.sync(storage).isEmpty)
            try await alice.sync(storage)
            try await admin.sync(storage)
            #expect(try alice.tasks().first { $0[0] == .string("t1") }?[4] == .string("report v3"))
            #expect(try admin.tasks().first { $0[0] == .string("t1") }?[4] == .string("report v3"))
        }
    }

    @Test("shared rows through a membership table follow membership changes", arguments: StorageBackend.allCases)
    func membership(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            try await storage.setPolicy(TablePolicy(
                table: "tasks",
                select: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = tasks.project_id AND m.user_id = auth_userid())",
                insert: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = NEW.project_id AND m.user_id = auth_userid())",
                update: "EXISTS (SELECT 1 FROM members m WHERE m.project_id = OLD.project_id AND m.user_id = auth_userid()) AND NEW.project_id = OLD.project_id"),
                database: "shared")
            try await storage.setPolicy(TablePolicy(table: "members", select: "user_id = auth_userid()"), database: "shared")
            let admin = try RLSDevice(.administrator)
            let alice = try RLSDevice(claims("alice"))
            let bob = try RLSDevice(claims("bob"))
            try admin.execute("""
                INSERT INTO members VALUES ('p1', 'alice'), ('p1', 'bob'), ('p2', 'bob');
                INSERT INTO tasks(id, project_id, title) VALUES ('t1', 'p1', 'shared'), ('t2', 'p2', 'bob only');
                """)
            try await admin.sync(storage)
            try await alice.sync(storage)
            try await bob.sync(storage)
            #expect(try alice.taskIDs() == ["t1"])
            #expect(try bob.taskIDs() == ["t1", "t2"])

            // Alice writes into the shared project; Bob sees it. She cannot write into p2.
            try alice.execute("INSERT INTO tasks(id, project_id, title) VALUES ('t3', 'p1', 'from alice'), ('t4', 'p2', 'sneaky')")
            #expect(try await alice.sync(storage) == [DeniedRows(table: "tasks", rows: 1)])
            try await bob.sync(storage)
            #expect(try bob.taskIDs() == ["t1", "t2", "t3"])
            #expect(try alice.taskIDs() == ["t1", "t3"])

            // Bob is removed from p1: its rows leave his device. Added back: they return whole.
            try admin.execute("DELETE FROM members WHERE project_id = 'p1' AND user_id = 'bob'")
            try await admin.sync(storage)
            try await bob.sync(storage)
            #expect(try bob.taskIDs() == ["t2"])
            try alice.execute("UPDATE tasks SET title = 'edited while bob was out' WHERE id = 't1'")
            try await alice.sync(storage)
            try admin.execute("INSERT INTO members VALUES ('p1', 'bob')")
            try await admin.sync(storage)
            try await bob.sync(storage)
            #expect(try bob.taskIDs() == ["t1", "t2", "t3"])
            #expect(try bob.tasks().first?[4] == .string("edited while bob was out"))
            // Deleting a shared row reaches every member, and not the others.
            try bob.execute("DELETE FROM tasks WHERE id = 't3'")
            #expect(try await bob.sync(storage) == [DeniedRows(table: "tasks", rows: 1)], "no delete policy: refused")
            #expect(try bob.taskIDs() == ["t1", "t2", "t3"], "the refused delete is undone")
        }
    }

    @Test("a tenant attribute of the token selects rows; new claims re-evaluate visibility", arguments: StorageBackend.allCases)
    func tenantAttribute(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            let tenant = Self.tokenOrgID(backend)
            try await storage.setPolicy(TablePolicy(table: "tasks", select: "org_id = \(tenant)", insert: "NEW.org_id = \(tenant)"), database: "shared")
            let admin = try RLSDevice(.administrator)
            try admin.execute("INSERT INTO tasks(id, org_id, title) VALUES ('a', 'acme', 'x'), ('b', 'acme', 'y'), ('c', 'initech', 'z')")
            try await admin.sync(storage)
            let carol = try RLSDevice(claims("carol", attributes: #"{"org_id":"acme"}"#))
            try await carol.sync(storage)
            #expect(try carol.taskIDs() == ["a", "b"])
            try carol.execute("INSERT INTO tasks(id, org_id) VALUES ('d', 'acme'), ('e', 'initech')")
            #expect(try await carol.sync(storage) == [DeniedRows(table: "tasks", rows: 1)])
            #expect(try carol.taskIDs() == ["a", "b", "d"])

            // The same user with a token for another tenant: visibility is computed again.
            carol.principal = claims("carol", attributes: #"{"org_id":"initech"}"#)
            try await carol.sync(storage)
            #expect(try carol.taskIDs() == ["c"])
        }
    }

    @Test("an INTEGER owner column compares with auth_userid() alike in downloads and uploads", arguments: StorageBackend.allCases)
    func integerOwner(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            // SQLite applies the column's affinity to the text user id; PostgreSQL needs a cast.
            let user = backend.pick(embedded: "auth_userid()", postgres: "auth_userid()::bigint")
            try await storage.setPolicy(TablePolicy(
                table: "ledger", select: "owner = \(user)", insert: "NEW.owner = \(user)",
                update: "OLD.owner = \(user) AND NEW.owner = OLD.owner"), database: "shared")
            let seven = try RLSDevice(claims("7"))
            let eight = try RLSDevice(claims("8"))
            func ledger(_ device: RLSDevice) throws -> [[SQLValue]] {
                try device.device.context.connection.rows("SELECT id, owner, amount FROM ledger ORDER BY id")
            }
            try seven.execute("INSERT INTO ledger VALUES ('a', 7, 1.5), ('b', 8, 2.0)")
            #expect(try await seven.sync(storage) == [DeniedRows(table: "ledger", rows: 1)])
            try eight.execute("INSERT INTO ledger VALUES ('c', 8, 3.0)")
            #expect(try await eight.sync(storage).isEmpty)
            try seven.execute("UPDATE ledger SET amount = 9 WHERE id = 'a'")
            #expect(try await seven.sync(storage).isEmpty)
            try await eight.sync(storage)
            #expect(try ledger(seven) == [[.string("a"), .integer(7), .real(9)]])
            #expect(try ledger(eight) == [[.string("c"), .integer(8), .real(3)]])
        }
    }

    @Test("write checks see the upload's earlier rows and the row itself, in upload order", arguments: StorageBackend.allCases)
    func checksSeeEarlierRows(backend: StorageBackend) async throws {
        try await withRLSStorage(backend) { data in
            let storage = data.storage
            // A quota that reads the table being written (the new row counts), and tasks that
            // need a membership the same upload creates (members has no policy).
            try await storage.setPolicy(TablePolicy(
                table: "tasks",
                select: "user_id = auth_userid()",
                insert: """
                    NEW.user_id = auth_userid() AND (SELECT count(*) FROM tasks t WHERE t.user_id = NEW.user_id) <= 2
                    AND (NEW.project_id IS NULL OR EXISTS (SELECT 1 FROM members m WHERE m.project_id = NEW.project_id AND m.user_id = auth_userid()))
                    """,
                update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id"), database: "shared")
            let alice = try RLSDevice(claims("alice"))
            try alice.execute("""
                INSERT INTO members VALUES ('p1', 'alice');
                INSERT INTO tasks(id, user_id, project_id, title) VALUES ('t1', 'alice', 'p1', 'one'), ('t2', 'alice', NULL, 'two'),
                  ('t3', 'alice', NULL, 'three'), ('t4', 'alice', 'p2', 'four');
                """)
            #expect(try await alice.sync(storage) == [DeniedRows(table: "tasks", rows: 2)])
            #expect(try alice.taskIDs() == ["t1", "t2"])
            #expect(try await serverTasks(data).map { $0[0].stringValue } == ["t1", "t2"])
            // Still at quota: a new task is refused; edits pass.
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('t5', 'alice', 'five'); UPDATE tasks SET title = 'uno' WHERE id = 't1'")
            #expect(try await alice.sync(storage) == [DeniedRows(table: "tasks", rows: 1)])
            #expect(try await serverTasks(data).map { $0[4].stringValue } == ["uno", "two"])
            // A refused row takes nothing else of its upload with it.
            try alice.execute("INSERT INTO members VALUES ('p3', 'alice'); INSERT INTO tasks(id, user_id, title) VALUES ('t6', 'alice', 'six')")
            #expect(try await alice.sync(storage) == [DeniedRows(table: "tasks", rows: 1)])
            #expect(try await data.query("SELECT project_id FROM members ORDER BY project_id", database: "shared") == [[.string("p1")], [.string("p3")]])
        }
    }
}
