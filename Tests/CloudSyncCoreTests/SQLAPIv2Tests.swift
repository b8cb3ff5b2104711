import Foundation
import Testing
@testable import CloudSyncCore

/// The 1.x additions of sql-api-v2.md that are local: init flags, UUID helpers, row filters,
/// `cloudsync_payload_apply`.
@Suite("SQL functions of sqlite-sync 1.x")
struct SQLAPIv2Tests {
    // MARK: init flags

    @Test("init flags skip exactly the checks they name", arguments: [
        ("CREATE TABLE t(id INTEGER PRIMARY KEY, b TEXT)", 1, 2),
        ("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, b TEXT NOT NULL)", 2, 1),
    ])
    func initFlags(schema: String, accepting: Int, notAccepting: Int) throws {
        let db = try TestDatabase()
        try db.execute(schema)
        #expect(db.errorMessage("SELECT cloudsync_init('t', 'cls', \(notAccepting))") != nil)
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 't_cloudsync'") == 0)
        #expect(db.errorMessage("SELECT cloudsync_init('t', 'cls', \(accepting))") == nil)
        // Accepted once, accepted again without flags, and after an ALTER.
        #expect(db.errorMessage("SELECT cloudsync_init('t')") == nil)
        try db.execute("SELECT cloudsync_begin_alter('t'); ALTER TABLE t ADD COLUMN c TEXT; SELECT cloudsync_commit_alter('t')")
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 't'") ?? 0 > 0)
    }

    @Test func initFlagsKeepThe08Booleans() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(id INTEGER PRIMARY KEY); CREATE TABLE c(id INTEGER PRIMARY KEY)")
        #expect(db.errorMessage("SELECT cloudsync_init('a', 'cls', 'true')") == nil)
        #expect(db.errorMessage("SELECT cloudsync_init('b', 'cls', 7)") == nil)
        #expect(db.errorMessage("SELECT cloudsync_init('c', 'cls', 'false')")?.contains("INTEGER primary key") == true)
        #expect(db.errorMessage("SELECT cloudsync_init('c', 'cls', 8)")?.contains("unknown init flags 8") == true)
        #expect(db.errorMessage("SELECT cloudsync_init('c', 'cls', -1)")?.contains("negative") == true)
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'c_cloudsync'") == 0)
        // Flag 4 is accepted but, as in 1.0.12, does not let a nullable key through.
        try db.execute("CREATE TABLE d(id TEXT PRIMARY KEY, v TEXT)")
        #expect(db.errorMessage("SELECT cloudsync_init('d', 'cls', 4)")?.contains("can be NULL") == true)
    }

    // MARK: UUID helpers

    @Test func uuidTextAndBlobRoundTrip() throws {
        let db = try TestDatabase()
        let bytes: [UInt8] = [0x01, 0x8f, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07]
        #expect(try db.scalar("SELECT cloudsync_uuid_text(?1)", [.blob(bytes)]) == .string("018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607"))
        #expect(try db.scalar("SELECT cloudsync_uuid_text(?1, 0)", [.blob(bytes)]) == .string("018f3a4b5c6d7e8f90a1b2c3d4e5f607"))
        for text in ["018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607", "018F3A4B5C6D7E8F90A1B2C3D4E5F607", "{018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607}"] {
            #expect(try db.scalar("SELECT cloudsync_uuid_blob(?1)", [.string(text)]) == .blob(bytes), "\(text)")
        }
        #expect(try db.scalar("SELECT cloudsync_uuid_blob(cloudsync_uuid_text(?1))", [.blob(bytes)]) == .blob(bytes))
        #expect(try db.scalar("SELECT length(cloudsync_uuid_blob(cloudsync_uuid()))") == .integer(16))
        #expect(try db.scalar("SELECT cloudsync_uuid_text(NULL)") == .null)
        #expect(try db.scalar("SELECT cloudsync_uuid_blob(NULL)") == .null)
        #expect(db.errorMessage("SELECT cloudsync_uuid_text(x'0102')")?.contains("16-byte BLOB") == true)
        #expect(db.errorMessage("SELECT cloudsync_uuid_text('018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607')")?.contains("16-byte BLOB") == true)
        for bad in ["018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f60", "018f3a4b5-c6d-7e8f-90a1-b2c3d4e5f607", "018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f6zz", ""] {
            #expect(db.errorMessage("SELECT cloudsync_uuid_blob('\(bad)')")?.contains("UUID as text") == true, "\(bad)")
        }
    }

    // MARK: Row filters

    static let schema = "CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, owner TEXT, n INTEGER DEFAULT 0)"

    /// The keys of the rows the changes feed holds clocks for.
    func trackedKeys(_ db: TestDatabase) throws -> [String] {
        try db.rows("SELECT DISTINCT cloudsync_pk_decode(pk, 1) FROM cloudsync_changes WHERE tbl = 't' ORDER BY 1").compactMap { $0[0].stringValue }
    }

    @Test func aFilterTracksOnlyMatchingRows() throws {
        let db = try TestDatabase()
        try db.execute(Self.schema)
        try db.execute("INSERT INTO t VALUES ('a', 'me', 1), ('b', 'you', 2)")
        try db.execute("SELECT cloudsync_init('t')")
        #expect(try trackedKeys(db) == ["a", "b"])

        #expect(try db.scalar("SELECT cloudsync_set_filter('t', 'owner = ''me''')") == .integer(1))
        #expect(try trackedKeys(db) == ["a"])
        try db.execute("INSERT INTO t VALUES ('c', 'me', 3), ('d', 'you', 4)")
        try db.execute("UPDATE t SET n = 20 WHERE id = 'b'")
        #expect(try trackedKeys(db) == ["a", "c"])
        // A delete is judged on the old row: deleting a filtered-out row records nothing.
        try db.execute("DELETE FROM t WHERE id IN ('c', 'd')")
        #expect(try db.integer("SELECT count(*) FROM t_cloudsync WHERE cloudsync_pk_decode(pk, 1) = 'c' AND col_name = '__[RIP]__' AND col_version % 2 = 0") == 1)
        #expect(try db.integer("SELECT count(*) FROM t_cloudsync WHERE cloudsync_pk_decode(pk, 1) = 'd'") == 0)

        // The filter survives reopening a file database and re-initialization.
        try db.execute("SELECT cloudsync_init('t')")
        try db.execute("INSERT INTO t VALUES ('e', 'you', 5)")
        #expect(try trackedKeys(db) == ["a", "c"])

        #expect(try db.scalar("SELECT cloudsync_clear_filter('t')") == .integer(1))
        #expect(try trackedKeys(db) == ["a", "b", "c", "e"])
        try db.execute("INSERT INTO t VALUES ('f', 'you', 6)")
        #expect(try trackedKeys(db).contains("f"))
    }

    @Test func aFilterSurvivesReopening() throws {
        let path = TestDatabase.temporaryPath("filter.db")
        do {
            let db = try TestDatabase(path: path)
            try db.execute(Self.schema)
            try db.execute("SELECT cloudsync_init('t'); SELECT cloudsync_set_filter('t', 'n > 0')")
            db.close()
        }
        let db = try TestDatabase(path: path)
        try db.execute("INSERT INTO t VALUES ('zero', NULL, 0), ('one', NULL, 1)")
        #expect(try trackedKeys(db) == ["one"])
        // Reloading the table (as a merge does) keeps the filter in the triggers it installs.
        try db.execute("SELECT cloudsync_begin_alter('t'); ALTER TABLE t ADD COLUMN extra TEXT; SELECT cloudsync_commit_alter('t')")
        try db.execute("INSERT INTO t(id, n) VALUES ('minus', -1), ('two', 2)")
        #expect(try trackedKeys(db) == ["one", "two"])
    }

    @Test("a bad filter is refused and changes nothing", arguments: [
        ("nope = 1", "no such column"),
        ("n >", "syntax error"),
        ("n > 0)) FROM t AS t; DROP TABLE t; SELECT ((1", "more than one SQL statement"),
        ("n > 0 /* unclosed", "not a valid condition"),
        ("   ", "empty"),
    ])
    func badFilter(expression: String, reason: String) throws {
        let db = try TestDatabase()
        try db.execute(Self.schema)
        try db.execute("INSERT INTO t VALUES ('a', 'me', 1), ('b', 'you', 0)")
        try db.execute("SELECT cloudsync_init('t')")
        let triggers = try db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        let message = try #require(db.errorMessage("SELECT cloudsync_set_filter('t', '\(expression.replacingOccurrences(of: "'", with: "''"))')"))
        #expect(message.contains(reason), "\(message)")
        #expect(try db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name") == triggers)
        #expect(try db.integer("SELECT count(*) FROM cloudsync_table_settings WHERE key = 'filter'") == 0)
        #expect(try trackedKeys(db) == ["a", "b"])
        #expect(try db.integer("SELECT count(*) FROM t") == 2)
    }

    @Test func filtersNeedASynchronizedTable() throws {
        let db = try TestDatabase()
        #expect(db.errorMessage("SELECT cloudsync_set_filter('nope', 'x = 1')")?.contains("not synchronized") == true)
        #expect(db.errorMessage("SELECT cloudsync_clear_filter('nope')")?.contains("not synchronized") == true)
    }

    /// Rows that arrive from another replica are merged whatever the filter: it decides what
    /// this device sends, not what it accepts.
    @Test func aFilteredReplicaStillMergesEverything() throws {
        let a = try TestDatabase(), b = try TestDatabase()
        for db in [a, b] {
            try db.execute(Self.schema)
            try db.execute("SELECT cloudsync_init('t')")
        }
        try b.execute("SELECT cloudsync_set_filter('t', 'owner = ''b''')")
        try a.execute("INSERT INTO t VALUES ('1', 'a', 1), ('2', 'b', 2)")
        try a.send(to: b)
        #expect(try b.snapshot("t") == a.snapshot("t"))
        try b.execute("INSERT INTO t VALUES ('3', 'a', 3), ('4', 'b', 4)")
        try b.send(to: a)
        #expect(try a.rows("SELECT id FROM t ORDER BY id").compactMap { $0[0].stringValue } == ["1", "2", "4"])
    }

    // MARK: Payloads

    @Test func payloadApplyIsDecodeUnder1xName() throws {
        let a = try todoDatabase(), b = try todoDatabase()
        try a.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk')")
        let payload = try #require(try a.payload())
        #expect(try b.scalar("SELECT cloudsync_payload_apply(?1)", [.blob(payload)])?.integerValue ?? 0 > 0)
        #expect(try b.snapshot("todo") == a.snapshot("todo"))
        #expect(b.errorMessage("SELECT cloudsync_payload_apply('text')")?.contains("cloudsync_payload_apply takes a payload BLOB") == true)
    }

    @Test func aMergeReportsItsTablesInOrder() throws {
        let a = try TestDatabase(), b = try TestDatabase()
        for db in [a, b] {
            try db.execute("CREATE TABLE x(id TEXT PRIMARY KEY NOT NULL, v TEXT); CREATE TABLE y(id TEXT PRIMARY KEY NOT NULL, v TEXT)")
            try db.execute("SELECT cloudsync_init('*')")
        }
        try a.execute("INSERT INTO y VALUES ('1', 'a'); INSERT INTO x VALUES ('1', 'b'); INSERT INTO y VALUES ('2', 'c')")
        let payload = try #require(try a.payload())
        let report = try b.context.applyPayload(payload)
        #expect(report.tables == ["y", "x"])
    }
}
