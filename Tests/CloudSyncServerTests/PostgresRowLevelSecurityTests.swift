import CloudSyncCore
import Foundation
import Testing

@testable import CloudSyncServer

/// Row-Level Security where only PostgreSQL can take it: other programs writing the protected
/// tables and the tables policies read, PostgreSQL syntax in policies, and several server
/// instances serving one user's devices at once.
@Suite("Row-Level Security on PostgreSQL")
struct PostgresRowLevelSecurityTests {
    @Test("policies are PostgreSQL SQL: casts pass, type errors and parameters are refused when set")
    func postgresDialect() async throws {
        try await withRLSStorage(.postgres) { data in
            let storage = data.storage
            let refused: [(TablePolicy, String)] = [
                (TablePolicy(table: "tasks", select: "user_id = 1"), "operator does not exist: text = integer"),
                (TablePolicy(table: "tasks", select: "user_id = $1"), "parameters ($) are not allowed"),
                (TablePolicy(table: "tasks", select: "title"), "argument of WHERE must be type boolean"),
                (TablePolicy(table: "tasks", insert: "NEW.title"), "argument of CASE/WHEN must be type boolean"),
                (TablePolicy(table: "tasks", select: "json_extract(auth_json(), '$.x') = 1"), "function json_extract(jsonb, unknown) does not exist"),
            ]
            for (policy, reason) in refused {
                await #expect {
                    try await storage.setPolicy(policy, database: "shared")
                } throws: { error in
                    (error as? SyncStorageError).map { $0.kind == .invalidPolicy && $0.message.contains(reason) } ?? false
                }
            }
            #expect(try await storage.policies(database: "shared", table: nil).isEmpty)
            let cast = TablePolicy(table: "tasks", select: "length(user_id)::bigint = (auth_json()->>'n')::bigint", insert: "NEW.title::text <> ''")
            try await storage.setPolicy(cast, database: "shared")
            #expect(try await storage.policies(database: "shared", table: "tasks") == [cast])
        }
    }

    @Test("a program's writes in PostgreSQL move rows between users on their next sync")
    func programWritesChangeVisibility() async throws {
        try await withRLSStorage(.postgres) { data in
            let storage = data.storage
            // PostgreSQL syntax: a cast.
            try await storage.setPolicy(TablePolicy(
                table: "tasks", select: "user_id::text = auth_userid()::text", insert: "NEW.user_id = auth_userid()",
                update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id"), database: "shared")
            let alice = try RLSDevice(claims("alice"))
            let bob = try RLSDevice(claims("bob"))
            try alice.execute("INSERT INTO tasks(id, user_id, title) VALUES ('a1', 'alice', 'milk'), ('a2', 'alice', 'eggs')")
            try await alice.sync(storage)
            try await bob.sync(storage)
            #expect(try bob.taskIDs().isEmpty)

            _ = try await data.query("UPDATE tasks SET user_id = 'bob', title = 'milk (moved)' WHERE id = 'a1'", database: "shared")
            _ = try await data.query("INSERT INTO tasks(id, user_id, title) VALUES ('b1', 'bob', 'from the program')", database: "shared")
            _ = try await data.query("UPDATE tasks SET title = 'eggs, a dozen' WHERE id = 'a2'", database: "shared")
            try await alice.sync(storage)
            try await bob.sync(storage)
            #expect(try alice.tasks() == [[.string("a2"), .string("alice"), .null, .null, .string("eggs, a dozen")]])
            #expect(try bob.taskIDs() == ["a1", "b1"])
            #expect(try bob.tasks().first?[4] == .string("milk (moved)"))

            // Bob's edit of the moved row reaches the table; moving it back returns it to Alice whole.
            try bob.execute("UPDATE tasks SET title = 'oat milk' WHERE id = 'a1'")
            #expect(try await bob.sync(storage).isEmpty)
            _ = try await data.query("UPDATE tasks SET user_id = 'alice' WHERE id = 'a1'", database: "shared")
            try await bob.sync(storage)
            try await alice.sync(storage)
            #expect(try bob.taskIDs() == ["b1"])
            #expect(try alice.tasks().first { $0[0] == .string("a1") }?[4] == .string("oat milk"))
            #expect(try await serverTasks(data).filter { $0[1] == .string("alice") } == alice.tasks())
        }
    }

    @Test("a policy may read a table only PostgreSQL has; its changes re-evaluate visibility")
    func policyReadsAnUnsynchronizedTable() async throws {
        try await withRLSStorage(.postgres) { data in
            let storage = data.storage
            // A table another program maintains, in the database's schema, not synchronized.
            _ = try await data.query("CREATE TABLE staff(user_id TEXT PRIMARY KEY, org TEXT NOT NULL)", database: "shared")
            _ = try await data.query("INSERT INTO staff VALUES ('carol', 'acme')", database: "shared")
            let sameOrg = "org_id IN (SELECT s.org FROM staff s WHERE s.user_id = auth_userid())"
            try await storage.setPolicy(TablePolicy(table: "tasks", select: sameOrg, insert: "NEW.\(sameOrg)"), database: "shared")
            let admin = try RLSDevice(.administrator)
            try admin.execute("INSERT INTO tasks(id, org_id, title) VALUES ('a', 'acme', 'x'), ('i', 'initech', 'y')")
            try await admin.sync(storage)
            let carol = try RLSDevice(claims("carol"))
            try await carol.sync(storage)
            #expect(try carol.taskIDs() == ["a"])
            try carol.execute("INSERT INTO tasks(id, org_id) VALUES ('c1', 'acme'), ('c2', 'initech')")
            #expect(try await carol.sync(storage) == [DeniedRows(table: "tasks", rows: 1)])
            #expect(try carol.taskIDs() == ["a", "c1"])

            _ = try await data.query("UPDATE staff SET org = 'initech' WHERE user_id = 'carol'", database: "shared")
            try await carol.sync(storage)
            #expect(try carol.taskIDs() == ["i"])
        }
    }

    @Test("two instances serve the users' devices concurrently; every device ends with its rows")
    func twoInstancesConcurrently() async throws {
        try await withRLSStorage(.postgres) { data in
            let first = data.storage
            let second = try await data.openAnother()
            do {
                try await first.setPolicy(RowLevelSecurityTests.personal, database: "shared")
                let users = ["u0", "u1", "u2"]
                let devices = try users.flatMap { user in [try RLSDevice(claims(user)), try RLSDevice(claims(user))] }
                for round in 0..<6 {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (index, device) in devices.enumerated() {
                            let user = device.principal.claims!.userID
                            try device.execute("""
                                INSERT OR REPLACE INTO tasks(id, user_id, title) VALUES ('\(user)-\(index)-\(round % 3)', '\(user)', 'r\(round)');
                                UPDATE tasks SET title = title || '+' WHERE id = '\(user)-\((index + 1) % devices.count)-0';
                                """)
                            // Each device alternates instances; all sync at once.
                            let storage = (index + round) % 2 == 0 ? first : second
                            group.addTask { try await device.sync(storage) }
                        }
                        try await group.waitForAll()
                    }
                }
                for device in devices { try await device.sync(first) }
                for device in devices { try await device.sync(second) }
                let server = try await serverTasks(data)
                #expect(server.count == users.count * 2 * 3)
                for device in devices {
                    let user = device.principal.claims!.userID
                    #expect(try device.tasks() == server.filter { $0[1] == .string(user) }, "device of \(user)")
                }
            } catch {
                await second.close()
                throw error
            }
            await second.close()
        }
    }
}
