import Foundation
import Testing
@testable import CloudSyncCore

/// The configuration and helper functions of sql-api.md.
@Suite("SQL functions")
struct FunctionTests {
    @Test func initReturnsTheSiteIDAndIsIdempotent() throws {
        let db = try TestDatabase()
        try db.execute(todoSchema)
        let first = try #require(try db.scalar("SELECT cloudsync_init('todo')")?.stringValue)
        let second = try #require(try db.scalar("SELECT cloudsync_init('TODO')")?.stringValue)
        #expect(first == second)
        #expect(first.count == 32 && first.allSatisfy(\.isHexDigit))
        guard case .blob(let site)? = try db.scalar("SELECT cloudsync_siteid()") else { Issue.record("no site id"); return }
        #expect(Hex.encode(site) == first)
        #expect(site[6] >> 4 == 7) // UUIDv7
        // insert, delete, key change, and one per non-key column (title, done)
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'todo'") == 5)
    }

    @Test("init refuses tables it cannot merge, saying what to change", arguments: [
        ("CREATE TABLE t(a TEXT, b TEXT)", "no declared primary key"),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY, b TEXT)", "INTEGER primary key"),
        ("CREATE TABLE t(id TEXT PRIMARY KEY, b TEXT)", "NOT NULL"),
        ("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, b TEXT NOT NULL)", "DEFAULT"),
    ])
    func initRefuses(schema: String, reason: String) throws {
        let db = try TestDatabase()
        try db.execute(schema)
        let message = try #require(db.errorMessage("SELECT cloudsync_init('t')"))
        #expect(message.contains(reason))
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 't_cloudsync'") == 0)
    }

    @Test func initErrorsForMissingTablesAndBadArguments() throws {
        let db = try TestDatabase()
        #expect(db.errorMessage("SELECT cloudsync_init('nope')")?.contains("does not exist") == true)
        try db.execute(todoSchema)
        #expect(db.errorMessage("SELECT cloudsync_init('todo', 'xyz')")?.contains("unknown algorithm") == true)
        #expect(db.errorMessage("SELECT cloudsync_init(42)")?.contains("TEXT") == true)
        #expect(db.errorMessage("SELECT cloudsync_enable('nope')")?.contains("not synchronized") == true)
    }

    @Test func forceAllowsIntegerKeysAndStarInitializesEveryTable() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE m(id TEXT PRIMARY KEY NOT NULL)")
        try db.execute("SELECT cloudsync_init('n', 'cls', 1)")
        try db.execute("SELECT cloudsync_init('*')")
        #expect(try db.context.synchronizedTableNames == ["m", "n"])
    }

    @Test func initRecordsRowsThatAlreadyExisted() throws {
        let db = try TestDatabase()
        try db.execute(todoSchema)
        try db.execute("INSERT INTO todo(id, title) VALUES ('old', 'was here')")
        try db.execute("SELECT cloudsync_init('todo')")
        let other = try todoDatabase()
        try db.send(to: other)
        #expect(try other.snapshot("todo") == [[.string("old"), .string("was here"), .integer(0)]])
    }

    @Test func cleanupRemovesTrackingAndStarRemovesEverything() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id) VALUES ('a'); SELECT cloudsync_cleanup('todo')")
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'todo_cloudsync' OR type = 'trigger'") == 0)
        try db.execute("INSERT INTO todo(id) VALUES ('b')") // no triggers left to fail
        #expect(try db.integer("SELECT count(*) FROM todo") == 2)
        try db.execute("SELECT cloudsync_init('todo'); INSERT INTO todo(id) VALUES ('c')")
        #expect(try db.integer("SELECT min(db_version) FROM todo_cloudsync") ?? 0 > 1) // versions never go back
        try db.execute("SELECT cloudsync_cleanup('*')")
        #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name LIKE 'cloudsync%' OR name LIKE '%cloudsync'") == 0)
    }

    @Test func settingsAreStored() throws {
        let db = try todoDatabase()
        try db.execute("SELECT cloudsync_set('answer', 42), cloudsync_set_table('todo', 'note', 'x'), cloudsync_set_column('todo', 'title', 'note', 'y')")
        #expect(try db.scalar("SELECT value FROM cloudsync_settings WHERE key = 'answer'") == .string("42"))
        #expect(try db.rows("SELECT col_name, value FROM cloudsync_table_settings WHERE key = 'note' ORDER BY col_name") == [[.string("*"), .string("x")], [.string("title"), .string("y")]])
        #expect(db.errorMessage("SELECT cloudsync_set_column('todo', 'nope', 'k', 'v')")?.contains("column 'nope' not found in table 'todo'") == true)
    }

    @Test func configurationSurvivesReopening() throws {
        let path = TestDatabase.temporaryPath()
        var site: SQLValue?
        do {
            let db = try todoDatabase(path: path)
            site = try db.scalar("SELECT cloudsync_siteid()")
            try db.execute("INSERT INTO todo(id) VALUES ('before')")
            db.close()
        }
        let reopened = try TestDatabase(path: path)
        #expect(try reopened.scalar("SELECT cloudsync_siteid()") == site)
        #expect(try reopened.integer("SELECT cloudsync_is_enabled('todo')") == 1)
        try reopened.execute("INSERT INTO todo(id) VALUES ('after')")
        #expect(try reopened.rows("SELECT db_version FROM todo_cloudsync WHERE pk = cloudsync_pk_encode('after') AND col_name = 'title'") == [[.integer(2)]])
    }

    @Test func terminateLetsTheConnectionClose() throws {
        let path = TestDatabase.temporaryPath()
        let db = try todoDatabase(path: path)
        try db.execute("INSERT INTO todo(id) VALUES ('a')")
        #expect(try db.integer("SELECT cloudsync_terminate()") == 0)
        #expect(TestDatabase.api.closeDatabase(db.handle) == 0) // SQLITE_OK: nothing left open
    }

    @Test func connectionsCloseWithoutTerminate() throws {
        let a = try todoDatabase(path: TestDatabase.temporaryPath())
        let b = try todoDatabase(path: TestDatabase.temporaryPath())
        try a.execute("INSERT INTO todo(id) VALUES ('a'); UPDATE todo SET id = 'b'; DELETE FROM todo")
        try a.execute("INSERT INTO todo(id) VALUES ('c')")
        try a.send(to: b)
        _ = try b.feed()
        #expect(TestDatabase.api.closeDatabase(a.handle) == 0)
        #expect(TestDatabase.api.closeDatabase(b.handle) == 0)
    }

    @Test func registeringTwiceReturnsTheSameContext() throws {
        let db = try TestDatabase()
        let again = try CloudSyncEngine.register(database: db.handle, api: TestDatabase.api)
        #expect(again === db.context)
    }

    @Test func versionAndDbVersion() throws {
        let db = try todoDatabase()
        let version = try #require(try db.scalar("SELECT cloudsync_version()")?.stringValue)
        #expect(version.split(separator: ".").count == 3 && version.split(separator: ".").allSatisfy { Int($0) != nil })
        #expect(try db.integer("SELECT cloudsync_db_version()") == 0)
        try db.execute("INSERT INTO todo(id) VALUES ('a'); INSERT INTO todo(id) VALUES ('b')")
        #expect(try db.integer("SELECT cloudsync_db_version()") == 2)
    }

    @Test func uuidsAreVersion7AndMonotonic() throws {
        let db = try TestDatabase()
        let uuids = try db.rows("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) SELECT cloudsync_uuid() FROM c").map { $0[0].stringValue! }
        let pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
        #expect(uuids.allSatisfy { $0.wholeMatch(of: pattern) != nil })
        #expect(zip(uuids, uuids.dropFirst()).allSatisfy { $0 < $1 })
        let nowMilliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
        let stamp = UInt64(uuids[0].replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)!
        #expect(stamp <= nowMilliseconds + 1 && stamp > nowMilliseconds - 60_000)
    }

    @Test func primaryKeyEncodeAndDecode() throws {
        let db = try TestDatabase()
        for vector in WireVectors.valueEncodings where vector.hex != nil {
            let arguments = vector.values.map(\.sqlLiteral).joined(separator: ", ")
            #expect(try db.scalar("SELECT hex(cloudsync_pk_encode(\(arguments)))")?.stringValue == vector.hex!.uppercased())
            for (index, value) in vector.values.enumerated() {
                #expect(try db.scalar("SELECT cloudsync_pk_decode(cloudsync_pk_encode(\(arguments)), \(index + 1))") == value)
            }
        }
        #expect(db.errorMessage("SELECT cloudsync_pk_decode(x'00', 1)") != nil)
        #expect(db.errorMessage("SELECT cloudsync_pk_decode(cloudsync_pk_encode(1), 2)")?.contains("out of range") == true)
        #expect(db.errorMessage("SELECT cloudsync_pk_decode('text', 1)")?.contains("BLOB") == true)
    }
}

extension SQLValue {
    /// The value as a SQL literal.
    var sqlLiteral: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): v == .min ? "(-9223372036854775807 - 1)" : String(v)
        case .real(let v): "\(v)"
        case .text(let bytes): "'" + String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "'", with: "''") + "'"
        case .blob(let bytes): "x'" + Hex.encode(bytes) + "'"
        }
    }
}
