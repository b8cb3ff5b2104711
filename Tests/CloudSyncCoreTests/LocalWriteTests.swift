import Testing
@testable import CloudSyncCore

/// Change tracking by the triggers: which clocks local writes leave, and the clocks' values.
@Suite("Local writes")
struct LocalWriteTests {
    /// Clock rows of `table`, as (pk blob, column, col_version, db_version, site ordinal, seq).
    func clocks(_ db: TestDatabase, _ table: String = "todo") throws -> [[SQLValue]] {
        try db.rows("SELECT pk, col_name, col_version, db_version, site_id, seq FROM \(SQLText.identifier(table + "_cloudsync")) ORDER BY db_version, seq")
    }

    func key(_ values: SQLValue...) throws -> SQLValue { .blob(try PrimaryKeyCodec.encode(values)) }

    @Test func insertRecordsEveryColumnOnce() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id, title) VALUES ('a', 'milk')")
        let a = try key(.string("a"))
        #expect(try clocks(db) == [
            [a, .string("title"), .integer(1), .integer(1), .integer(0), .integer(0)],
            [a, .string("done"), .integer(1), .integer(1), .integer(0), .integer(1)],
        ])
    }

    @Test func updateBumpsOnlyChangedColumns() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id, title) VALUES ('a', 'milk')")
        try db.execute("UPDATE todo SET title = 'milk', done = 1 WHERE id = 'a'")
        try db.execute("UPDATE todo SET done = 1 WHERE id = 'a'") // no change at all
        let rows = try db.rows("SELECT col_name, col_version, db_version FROM todo_cloudsync ORDER BY col_name")
        #expect(rows == [[.string("done"), .integer(2), .integer(2)], [.string("title"), .integer(1), .integer(1)]])
    }

    @Test func changesOfTypeOrCaseAreChanges() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, name TEXT COLLATE NOCASE, n)")
        try db.execute("SELECT cloudsync_init('t')")
        try db.execute("INSERT INTO t VALUES ('k', 'abc', 1)")
        try db.execute("UPDATE t SET name = 'ABC'")
        try db.execute("UPDATE t SET n = '1'")
        try db.execute("UPDATE t SET n = 1.0")
        let versions = try db.rows("SELECT col_name, col_version FROM t_cloudsync ORDER BY col_name")
        #expect(versions == [[.string("n"), .integer(3)], [.string("name"), .integer(2)]])
    }

    @Test func deleteLeavesOnlyTheSentinelAndReinsertRevives() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id, title) VALUES ('a', 'milk')")
        try db.execute("UPDATE todo SET done = 1")
        try db.execute("DELETE FROM todo")
        let a = try key(.string("a"))
        #expect(try clocks(db) == [[a, .string("__[RIP]__"), .integer(2), .integer(3), .integer(0), .integer(0)]])
        try db.execute("INSERT INTO todo(id, title) VALUES ('a', 'again')")
        #expect(try clocks(db) == [
            [a, .string("__[RIP]__"), .integer(3), .integer(4), .integer(0), .integer(0)],
            [a, .string("title"), .integer(1), .integer(4), .integer(0), .integer(1)],
            [a, .string("done"), .integer(1), .integer(4), .integer(0), .integer(2)],
        ])
        try db.execute("DELETE FROM todo")
        #expect(try db.integer("SELECT col_version FROM todo_cloudsync WHERE col_name = '__[RIP]__'") == 4)
    }

    @Test func primaryKeyChangeIsDeleteAndInsert() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id, title) VALUES ('a', 'milk')")
        try db.execute("UPDATE todo SET title = 'oat milk'")
        try db.execute("UPDATE todo SET id = 'b', done = 1 WHERE id = 'a'")
        let a = try key(.string("a")), b = try key(.string("b"))
        #expect(try clocks(db) == [
            [a, .string("__[RIP]__"), .integer(2), .integer(3), .integer(0), .integer(0)],
            [b, .string("__[RIP]__"), .integer(1), .integer(3), .integer(0), .integer(1)],
            [b, .string("title"), .integer(2), .integer(3), .integer(0), .integer(2)],
            [b, .string("done"), .integer(2), .integer(3), .integer(0), .integer(3)],
        ])
        // The other replica ends with the moved row only.
        let other = try todoDatabase()
        try db.send(to: other)
        #expect(try other.snapshot("todo") == [[.string("b"), .string("oat milk"), .integer(1)]])
    }

    @Test func compositeKeysKeyOnlyTablesAndQuotedNames() throws {
        let db = try TestDatabase()
        try db.execute("""
            CREATE TABLE "my ""odd"" table"("the key" TEXT NOT NULL, "order" INTEGER NOT NULL, "group" TEXT DEFAULT 'g', PRIMARY KEY("the key", "order"));
            CREATE TABLE tags(name TEXT PRIMARY KEY NOT NULL);
            SELECT cloudsync_init('my "odd" table');
            SELECT cloudsync_init('tags');
            INSERT INTO "my ""odd"" table" VALUES ('x', 1, 'a'), ('x', 2, 'b');
            UPDATE "my ""odd"" table" SET "group" = 'c' WHERE "order" = 2;
            INSERT INTO tags VALUES ('red'), ('blue');
            DELETE FROM tags WHERE name = 'red';
            """)
        let other = try TestDatabase()
        try other.execute("""
            CREATE TABLE "my ""odd"" table"("the key" TEXT NOT NULL, "order" INTEGER NOT NULL, "group" TEXT DEFAULT 'g', PRIMARY KEY("the key", "order"));
            CREATE TABLE tags(name TEXT PRIMARY KEY NOT NULL);
            SELECT cloudsync_init('*');
            """)
        try db.send(to: other)
        #expect(try other.snapshot("my \"odd\" table") == [[.string("x"), .integer(1), .string("a")], [.string("x"), .integer(2), .string("c")]])
        #expect(try other.snapshot("tags") == [[.string("blue")]])
        let tagClocks = try db.rows("SELECT col_name, col_version FROM tags_cloudsync ORDER BY cloudsync_pk_decode(pk, 1)")
        #expect(tagClocks == [[.string("__[RIP]__"), .integer(1)], [.string("__[RIP]__"), .integer(2)]]) // blue alive, red deleted
    }

    @Test func transactionsShareOneVersionAndRollbacksLeaveNothing() throws {
        let db = try todoDatabase()
        try db.execute("BEGIN; INSERT INTO todo(id) VALUES ('a'); INSERT INTO todo(id) VALUES ('b'); COMMIT")
        #expect(try db.rows("SELECT DISTINCT db_version FROM todo_cloudsync") == [[.integer(1)]])
        #expect(try db.rows("SELECT seq FROM todo_cloudsync ORDER BY seq") == (0..<4).map { [.integer($0)] })

        try db.execute("BEGIN; INSERT INTO todo(id) VALUES ('c'); ROLLBACK")
        #expect(try db.integer("SELECT count(*) FROM todo_cloudsync WHERE db_version > 1") == 0)

        try db.execute("BEGIN; INSERT INTO todo(id) VALUES ('d'); SAVEPOINT s; INSERT INTO todo(id) VALUES ('e'); ROLLBACK TO s; INSERT INTO todo(id) VALUES ('f'); COMMIT")
        let versions = try db.rows("SELECT DISTINCT db_version FROM todo_cloudsync WHERE db_version > 1")
        #expect(versions == [[.integer(2)]])
        #expect(try db.integer("SELECT count(*) FROM todo_cloudsync WHERE pk = cloudsync_pk_encode('e')") == 0)
        // (db_version, seq) is unique: the feed can be read with a cursor.
        #expect(try db.integer("SELECT count(*) FROM (SELECT db_version, seq FROM todo_cloudsync GROUP BY 1, 2 HAVING count(*) > 1)") == 0)

        try db.execute("INSERT INTO todo(id) VALUES ('g')")
        #expect(try db.integer("SELECT cloudsync_db_version()") == 3)
    }

    @Test("several connections writing one file get distinct, increasing versions", arguments: ["DELETE", "WAL"])
    func severalConnections(journalMode: String) throws {
        let path = TestDatabase.temporaryPath()
        let first = try todoDatabase(path: path)
        try first.execute("PRAGMA journal_mode = \(journalMode)")
        let second = try TestDatabase(path: path)
        var expected: Int64 = 0
        for round in 0..<6 {
            let writer = round % 2 == 0 ? first : second
            try writer.execute("BEGIN IMMEDIATE; INSERT INTO todo(id) VALUES ('r\(round)'); UPDATE todo SET done = done + 1; COMMIT")
            expected += 1
            #expect(try writer.integer("SELECT max(db_version) FROM todo_cloudsync") == expected)
            #expect(try writer.integer("SELECT count(DISTINCT db_version) FROM todo_cloudsync WHERE pk = cloudsync_pk_encode('r\(round)')") == 1)
        }
        #expect(try second.integer("SELECT count(*) FROM (SELECT db_version, seq FROM todo_cloudsync GROUP BY 1, 2 HAVING count(*) > 1)") == 0)
    }

    @Test func pausedTrackingRecordsNothing() throws {
        let db = try todoDatabase()
        try db.execute("SELECT cloudsync_disable('todo')")
        #expect(try db.integer("SELECT cloudsync_is_enabled('todo')") == 0)
        try db.execute("INSERT INTO todo(id) VALUES ('quiet')")
        try db.execute("SELECT cloudsync_enable('todo')")
        try db.execute("INSERT INTO todo(id) VALUES ('loud')")
        #expect(try db.integer("SELECT cloudsync_is_enabled('todo')") == 1)
        #expect(try db.rows("SELECT DISTINCT cloudsync_pk_decode(pk, 1) FROM todo_cloudsync") == [[.string("loud")]])
    }

    @Test func growOnlyTablesRefuseUpdatesAndDeletes() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE log(id TEXT PRIMARY KEY NOT NULL, line TEXT DEFAULT '')")
        try db.execute("SELECT cloudsync_init('log', 'gos')")
        try db.execute("INSERT INTO log VALUES ('1', 'started')")
        #expect(throws: CloudSyncError.self) { try db.execute("UPDATE log SET line = 'x'") }
        #expect(throws: CloudSyncError.self) { try db.execute("DELETE FROM log") }
        #expect(try db.snapshot("log") == [[.string("1"), .string("started")]])
    }

    @Test func mergedChangesAreNotRecordedAsLocal() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'from a')")
        try a.send(to: b)
        #expect(try b.integer("SELECT count(*) FROM todo_cloudsync WHERE site_id = 0") == 0)
        #expect(try b.rows("SELECT DISTINCT site_id FROM cloudsync_changes") == [[.blob(try a.context.siteID())]])
    }
}
