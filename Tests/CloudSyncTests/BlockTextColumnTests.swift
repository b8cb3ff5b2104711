import CloudSync
import Foundation
import GRDB
import Testing

/// Block-level text chosen when enabling sync in a migration.
@Suite("Block text in the Swift API")
struct BlockTextColumnTests {
    func notesQueue() throws -> DatabaseQueue {
        let queue = try DatabaseQueue(configuration: syncConfiguration())
        var migrator = DatabaseMigrator()
        migrator.registerMigration("notes") { db in
            try db.execute(sql: "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, summary TEXT)")
            try db.enableSync(table: "notes", blockText: [.lines("body"), .paragraphs("summary")])
        }
        try migrator.migrate(queue)
        return queue
    }

    @Test func migrationSwitchesColumnsToBlockModeWithTheirDelimiters() throws {
        let queue = try notesQueue()
        try queue.write { db in
            try db.execute(sql: "INSERT INTO notes VALUES ('n1', 'a\nb', 'p1\n\np2\n\np3')")
        }
        let names = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT col_name FROM notes_cloudsync WHERE col_name != '__[RIP]__' ORDER BY col_name")
        }
        #expect(names == ["body\u{1F}a0", "body\u{1F}a1", "summary\u{1F}a0", "summary\u{1F}a1", "summary\u{1F}a2"])
    }

    @Test func twoDatabasesKeepEditsOfDifferentLines() throws {
        let a = try notesQueue(), b = try notesQueue()
        try a.write { db in try db.execute(sql: "INSERT INTO notes(id, body) VALUES ('n1', 'one\ntwo\nthree')") }
        func send(_ from: DatabaseQueue, _ to: DatabaseQueue) throws {
            let payload = try from.read { db in
                try Data.fetchOne(db, sql: "SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes")
            }
            guard let payload else { return }
            try to.write { db in try db.execute(sql: "SELECT cloudsync_payload_decode(?)", arguments: [payload]) }
        }
        try send(a, b)
        try a.write { db in try db.execute(sql: "UPDATE notes SET body = 'one!\ntwo\nthree'") }
        try b.write { db in try db.execute(sql: "UPDATE notes SET body = 'one\ntwo\nthree!'") }
        try send(a, b)
        try send(b, a)
        for queue in [a, b] {
            #expect(try queue.read { db in try String.fetchOne(db, sql: "SELECT body FROM notes") } == "one!\ntwo\nthree!")
        }
    }

    @Test func aKeyColumnIsRefused() throws {
        let queue = try DatabaseQueue(configuration: syncConfiguration())
        #expect(throws: SyncError.self) {
            try queue.write { db in
                try db.execute(sql: "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)")
                try db.enableSync(table: "notes", blockText: [.lines("id")])
            }
        }
    }
}
