import Testing
@testable import CloudSyncCore

/// SELECT on `cloudsync_changes`: order, filters, and that filters use the db_version index.
@Suite("Changes feed")
struct ChangesFeedTests {
    func populated() throws -> (TestDatabase, TestDatabase) {
        let a = try todoDatabase(), b = try todoDatabase()
        try b.execute("CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT cloudsync_init('notes')")
        try a.execute("CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT cloudsync_init('notes')")
        try a.execute("INSERT INTO todo(id) VALUES ('a1'); INSERT INTO notes VALUES ('n1', 'x'); INSERT INTO todo(id) VALUES ('a2')")
        try a.send(to: b)
        try b.execute("INSERT INTO notes VALUES ('n2', 'y'); UPDATE todo SET done = 1 WHERE id = 'a1'")
        return (a, b)
    }

    @Test func rowsComeInVersionOrderAcrossTables() throws {
        let (_, b) = try populated()
        let keys = try b.rows("SELECT db_version, seq FROM cloudsync_changes").map { ($0[0].integerValue!, $0[1].integerValue!) }
        #expect(keys.count == 6) // a1 title, a1 done (now b's), n1, a2 title, a2 done, n2
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(try b.rows("SELECT DISTINCT tbl FROM cloudsync_changes ORDER BY tbl") == [[.string("notes")], [.string("todo")]])
    }

    @Test func filtersSelectTheRightRows() throws {
        let (a, b) = try populated()
        let all = try b.feed()
        let mine = try b.feed("WHERE site_id = cloudsync_siteid()")
        let theirs = try b.feed("WHERE site_id != cloudsync_siteid()")
        #expect(mine.count == 2 && theirs.count == 4)
        #expect(Set(mine + theirs) == Set(all))
        #expect(theirs.allSatisfy { $0[6] == .blob(try! a.context.siteID()) })
        let recent = try b.feed("WHERE db_version > 3")
        #expect(recent == all.filter { $0[5].integerValue! > 3 })
        #expect(try b.feed("WHERE db_version >= 4 AND db_version <= 4 AND tbl = 'notes'") == all.filter { $0[5] == .integer(4) && $0[0] == .string("notes") })
        #expect(try b.feed("WHERE site_id = x'00'").isEmpty)
        #expect(try b.feed("WHERE db_version > 'x'").isEmpty)
    }

    @Test func filtersUseTheVersionIndex() throws {
        let (_, b) = try populated()
        let plan = try b.rows("EXPLAIN QUERY PLAN SELECT * FROM cloudsync_changes WHERE db_version > 2 AND site_id = cloudsync_siteid()")
            .map { $0.last?.stringValue ?? "" }.joined(separator: "\n")
        #expect(plan.contains("VIRTUAL TABLE INDEX") && !plan.contains("INDEX 0:"))
        let table = try b.context.requireTable("todo")
        let inner = try b.rows("EXPLAIN QUERY PLAN " + ChangesFeed.query(for: table, filter: "WHERE c.db_version > ?1 AND c.site_id = ?2"), [.integer(2), .integer(0)])
            .map { $0.last?.stringValue ?? "" }.joined(separator: "\n")
        #expect(inner.contains("todo_cloudsync_db_idx"), "\(inner)")
        #expect(!inner.contains("SCAN c"), "\(inner)")
    }

    @Test("a payload stops taking changes once its body holds maxBytes; a larger change goes alone")
    func encodeIsBoundedByBytes() throws {
        let a = try TestDatabase(), b = try TestDatabase()
        for db in [a, b] { try db.execute("CREATE TABLE blobs(id TEXT PRIMARY KEY NOT NULL, body BLOB); SELECT cloudsync_init('blobs')") }
        // One row of 100,000 bytes, then ten of 10,000 bytes.
        try a.execute("INSERT INTO blobs VALUES ('big', randomblob(100000))")
        try a.execute("INSERT INTO blobs WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9) SELECT 'r' || i, randomblob(10000) FROM n")
        var cursor = (version: Int64(0), seq: Int64(0))
        var pages: [Int] = []
        while let page = try a.context.encodePayload(where: [.after(dbVersion: cursor.version, seq: cursor.seq)], maxBytes: 25_000) {
            pages.append(page.count)
            #expect(try b.apply(page.payload) == Int64(page.count))
            cursor = (page.lastDbVersion, page.lastSeq)
        }
        // The big row makes a page alone; 25,000 bytes take three rows of 10,000 (the third
        // passes the bound).
        #expect(pages == [1, 3, 3, 3, 1])
        #expect(try b.snapshot("blobs") == (try a.snapshot("blobs")))
        #expect(try a.context.encodePayload(maxBytes: .max)?.count == 11)
    }

    @Test func encodeOfNothingIsNull() throws {
        let db = try todoDatabase()
        #expect(try db.scalar("SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes") == .null)
    }
}

/// Schema changes on synchronized tables.
@Suite("Schema changes")
struct AlterTests {
    @Test func addedColumnsSyncAndOldPayloadsStillMerge() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('x', 'before')")
        let oldPayload = try #require(try a.payload())
        for db in [a, b] {
            try db.execute("SELECT cloudsync_begin_alter('todo'); ALTER TABLE todo ADD COLUMN note TEXT DEFAULT ''; SELECT cloudsync_commit_alter('todo')")
        }
        #expect(try b.apply(oldPayload) == 2) // made under the old schema, which b also had
        try a.execute("UPDATE todo SET note = 'new column'")
        try a.send(to: b)
        #expect(try b.snapshot("todo") == [[.string("x"), .string("before"), .integer(0), .string("new column")]])
    }

    @Test func droppedColumnsLoseTheirClocksAndAreSkipped() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title, done) VALUES ('x', 'keep', 1)")
        let oldPayload = try #require(try a.payload())
        try b.execute("SELECT cloudsync_begin_alter('todo'); ALTER TABLE todo DROP COLUMN done; SELECT cloudsync_commit_alter('todo')")
        #expect(try b.integer("SELECT count(*) FROM todo_cloudsync WHERE col_name = 'done'") == 0)
        try b.apply(oldPayload)
        #expect(try b.snapshot("todo") == [[.string("x"), .string("keep")]])
        try b.execute("UPDATE todo SET title = 'edited'") // triggers follow the new shape
        #expect(try b.integer("SELECT col_version FROM todo_cloudsync WHERE col_name = 'title'") == 2)
    }

    @Test func keyChangesAreRefused() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, v TEXT); SELECT cloudsync_init('t'); SELECT cloudsync_begin_alter('t')")
        try db.execute("ALTER TABLE t RENAME TO old_t; CREATE TABLE t(id TEXT NOT NULL, v TEXT NOT NULL DEFAULT '', PRIMARY KEY(id, v)); DROP TABLE old_t")
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_commit_alter('t')") }
    }
}
