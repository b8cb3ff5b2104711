import Testing
@testable import CloudSyncCore

/// Merging between real databases: conflicts, ties, idempotence.
@Suite("Merge")
struct MergeTests {
    @Test func concurrentEditsOfOneCellConvergeOnTheHigherVersionThenTheGreaterValue() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'base')")
        try a.send(to: b)
        try a.execute("UPDATE todo SET title = 'from a'")
        try b.execute("UPDATE todo SET title = 'from b'")
        try a.send(to: b)
        try b.send(to: a)
        // Equal versions: 'from b' > 'from a' byte-wise.
        #expect(try a.snapshot("todo") == [[.string("x"), .string("from b"), .integer(0)]])
        #expect(try b.snapshot("todo") == a.snapshot("todo"))
        try a.execute("UPDATE todo SET title = 'a again'") // version 3 beats 2
        try a.send(to: b)
        #expect(try b.scalar("SELECT title FROM todo") == .string("a again"))
    }

    @Test func editsOfDifferentColumnsBothSurvive() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'base')")
        try a.send(to: b)
        try a.execute("UPDATE todo SET title = 'renamed'")
        try b.execute("UPDATE todo SET done = 1")
        try a.send(to: b)
        try b.send(to: a)
        for db in [a, b] {
            #expect(try db.snapshot("todo") == [[.string("x"), .string("renamed"), .integer(1)]])
        }
    }

    @Test func deleteBeatsConcurrentUpdateAndReinsertBeatsDelete() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'base')")
        try a.send(to: b)
        try a.execute("DELETE FROM todo")
        try b.execute("UPDATE todo SET title = 'edited'")
        try b.send(to: a)
        try a.send(to: b)
        #expect(try a.snapshot("todo").isEmpty && b.snapshot("todo").isEmpty)
        try b.execute("INSERT INTO todo(id, title) VALUES ('x', 'back')")
        try b.send(to: a)
        #expect(try a.snapshot("todo") == [[.string("x"), .string("back"), .integer(0)]])
    }

    @Test func addWinsKeepsARowUpdatedConcurrentlyWithItsDelete() throws {
        func replica() throws -> TestDatabase {
            let db = try TestDatabase()
            try db.execute(todoSchema)
            try db.execute("SELECT cloudsync_init('todo', 'aws')")
            return db
        }
        let a = try replica(), b = try replica()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'base')")
        try a.send(to: b)
        try a.execute("DELETE FROM todo")
        try b.execute("UPDATE todo SET done = 1")
        try b.send(to: a)
        try a.send(to: b)
        try b.send(to: a)
        #expect(try a.snapshot("todo") == b.snapshot("todo"))
        #expect(try a.integer("SELECT done FROM todo WHERE id = 'x'") == 1)
    }

    @Test func applyingTwiceOrStaleChangesChangesNothing() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'one')")
        let stale = try #require(try a.payload())
        try a.execute("UPDATE todo SET title = 'two'")
        try a.send(to: b)
        let before = try b.feed()
        try b.apply(stale)
        try a.send(to: b)
        #expect(try b.feed() == before)
        #expect(try b.scalar("SELECT title FROM todo") == .string("two"))
    }

    @Test func insertingIntoTheChangesTableMergesOneChange() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'one')")
        for change in try a.context.changes() {
            try b.connection.run(
                "INSERT INTO cloudsync_changes(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                [.string(change.table), .blob(change.pk), .string(change.column), change.value, .integer(change.colVersion),
                 .integer(change.dbVersion), .blob(change.siteID), .integer(change.causalLength), .integer(change.seq)])
        }
        #expect(try b.snapshot("todo") == a.snapshot("todo"))
        #expect(throws: CloudSyncError.self) { try b.execute("DELETE FROM cloudsync_changes") }
        #expect(throws: CloudSyncError.self) { try b.execute("UPDATE cloudsync_changes SET col_version = 9") }
        #expect(try b.snapshot("todo") == a.snapshot("todo"))
    }

    @Test func mergedVersionsAreStampedForForwarding() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        for i in 0..<5 { try b.execute("INSERT INTO todo(id) VALUES ('b\(i)')") } // b is at version 5
        try a.execute("INSERT INTO todo(id) VALUES ('a')") // version 1 at a
        try a.send(to: b)
        // Stamped after b's own changes, so readers of b's feed past version 5 still get it.
        #expect(try b.integer("SELECT min(db_version) FROM cloudsync_changes WHERE pk = cloudsync_pk_encode('a')") == 6)
    }

    @Test func constraintFailuresSkipOnlyTheirRow() throws {
        let schema = "CREATE TABLE u(id TEXT PRIMARY KEY NOT NULL, email TEXT UNIQUE)"
        let a = try TestDatabase(), b = try TestDatabase()
        for db in [a, b] { try db.execute(schema); try db.execute("SELECT cloudsync_init('u')") }
        try b.execute("INSERT INTO u VALUES ('local', 'same@x')")
        try a.execute("INSERT INTO u VALUES ('remote', 'same@x'), ('other', 'fine@x')")
        let report = try b.context.applyPayload(try #require(try a.payload()))
        #expect(report.failedRows.count == 1)
        #expect(try b.rows("SELECT id FROM u ORDER BY id") == [[.string("local")], [.string("other")]])
    }
}
