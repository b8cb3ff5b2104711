import CloudSyncCore
import CloudSyncTestSupport
import PostgresNIO
import Testing

@testable import CloudSyncServer

/// Writers of one managed database lock its clock row before any table row, so that a
/// program's statement and a server merge touching the same row queue up instead of
/// deadlocking.
@Suite("PostgreSQL lock order", .enabled(if: PostgresTestDatabase.isAvailable, "PostgreSQL is not installed"))
struct PostgresLockOrderTests {
    @Test("a program's UPDATE waits for the clock row before it locks the row it updates")
    func writersTakeTheClockRowFirst() async throws {
        try await PostgresTestDatabase.with { postgres in
            let storage = try await TestStorage.openPostgres(postgres.url)
            try await storage.createDatabase(name: "todo.sqlite", schema: todoSchema, tables: nil)
            let schema = SQLText.identifier(try await storage.database("todo.sqlite").schemaName)
            do {
                try await postgres.withConnection { merge in
                    try await postgres.withConnection { program in
                        try await check(schema: schema, merge: merge, program: program)
                    }
                }
            } catch {
                await storage.close()
                throw error
            }
            await storage.close()
        }
    }

    private func check(schema: String, merge: PostgresConnection, program: PostgresConnection) async throws {
        let logger = PostgresTestDatabase.logger
        try await program.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).todo(id, title) VALUES ('x', 'first')"), logger: logger)

        // A merge in progress holds the clock row.
        try await merge.query("BEGIN", logger: logger)
        try await merge.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(schema).cloudsync_clock FOR UPDATE"), logger: logger)
        // The program's UPDATE of row x waits (a bounded while, so a regression cannot
        // hang the suite) ...
        try await program.query("SET statement_timeout = 20000", logger: logger)
        let programPID = try #require(try await program.query("SELECT pg_backend_pid()", logger: logger).collect().first?.decode(Int32.self))
        async let update = program.query(PostgresQuery(unsafeSQL: "UPDATE \(schema).todo SET title = 'program' WHERE id = 'x'"), logger: logger).collect()
        try await waitUntil("the program's UPDATE waits for a lock") {
            // Activity is read once per transaction unless the snapshot is cleared.
            try await merge.query("SELECT pg_stat_clear_snapshot()", logger: logger)
            let state = try await merge.query("SELECT wait_event_type FROM pg_stat_activity WHERE pid = \(programPID)", logger: logger).collect()
            return try state.first?.decode(String?.self) == "Lock"
        }
        // ... and while it waits, row x is free for the merge to write back.
        let locked = try await merge.query(
            PostgresQuery(unsafeSQL: "SELECT id FROM \(schema).todo WHERE id = 'x' FOR UPDATE NOWAIT"), logger: logger).collect()
        #expect(locked.count == 1)
        try await merge.query("COMMIT", logger: logger)
        // Once the merge commits, the program's statement goes through.
        _ = try await update
        let title = try await merge.query(PostgresQuery(unsafeSQL: "SELECT title FROM \(schema).todo WHERE id = 'x'"), logger: logger).collect()
        #expect(try title.first?.decode(String.self) == "program")
    }
}
