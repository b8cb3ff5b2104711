import CloudSyncCore
import CloudSyncTestSupport
import Foundation
import Testing

@testable import CloudSyncServer

/// Block-level text columns (block-text.md) on both storages: engine devices syncing straight
/// through the storage (the HTTP layer is covered by CloudSyncNetworkTests).
@Suite("Block text columns on both storages")
struct BlockTextStorageTests {
    static let schema = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL DEFAULT '', body TEXT, n INTEGER)"
    static let database = "notes.sqlite"

    /// A storage of `backend` with the notes database; `block` puts `body` in block mode.
    func withNotes(_ backend: StorageBackend, block: Bool = true, _ body: (TestStorage) async throws -> Void) async throws {
        try await withStorage(backend) { data in
            try await data.storage.createDatabase(name: Self.database, schema: Self.schema, tables: nil)
            if block { try await data.storage.setBlockColumn(database: Self.database, table: "notes", column: "body", delimiter: "\n") }
            try await body(data)
        }
    }

    func device(_ principal: Principal = .administrator, block: Bool = true) throws -> RLSDevice {
        let device = try RLSDevice(principal, schema: Self.schema, table: "notes")
        if block { try device.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')") }
        return device
    }

    func body(_ device: RLSDevice, _ id: String = "n1") throws -> String? {
        try device.device.context.connection.scalar("SELECT body FROM notes WHERE id = ?1", [.string(id)])?.stringValue
    }

    func serverBody(_ data: TestStorage, _ id: String = "n1") async throws -> String? {
        try await data.query("SELECT body FROM notes WHERE id = '\(id)'", database: Self.database).first?.first?.stringValue
    }

    /// Runs `sql` in PostgreSQL as another program would (triggers recording it).
    func direct(_ data: TestStorage, _ sql: String) async throws {
        _ = try await data.query(sql, database: Self.database)
    }

    @Test(arguments: StorageBackend.allCases)
    func columnSetShowRefusalsAndPersistence(_ backend: StorageBackend) async throws {
        try await withNotes(backend, block: false) { data in
            let storage = data.storage
            #expect(try await storage.blockColumns(database: Self.database).isEmpty)
            try await storage.setBlockColumn(database: Self.database, table: "notes", column: "body", delimiter: "\n")
            let expected = [BlockColumnSetting(table: "notes", column: "body", delimiter: "\n")]
            #expect(try await storage.blockColumns(database: Self.database) == expected)
            // A key, a non-TEXT column, an unknown column or table: refused, nothing changed.
            for (table, column, words) in [("notes", "id", "primary key"), ("notes", "n", "not TEXT"), ("notes", "nope", "not found"), ("nope", "body", "nope")] {
                do {
                    try await storage.setBlockColumn(database: Self.database, table: table, column: column, delimiter: "\n")
                    Issue.record("\(table).\(column) accepted")
                } catch let error as SyncStorageError {
                    #expect(error.message.contains(words), "\(error.message)")
                }
            }
            #expect(try await storage.blockColumns(database: Self.database) == expected)
            // Another instance (the CLI, or the server reopened) sees the setting; a new
            // delimiter replaces the old one.
            try await data.withAnotherStorage { another in
                #expect(try await another.blockColumns(database: Self.database) == expected)
                try await another.setBlockColumn(database: Self.database, table: "notes", column: "body", delimiter: "\n\n")
            }
            #expect(try await storage.blockColumns(database: Self.database) == [BlockColumnSetting(table: "notes", column: "body", delimiter: "\n\n")])
        }
    }

    /// Two devices edit different lines offline and both keep both edits; the server's column
    /// holds the merged text, and a device that arrives later downloads it from the blocks.
    func twoDevicesKeepBothLineEdits(_ data: TestStorage, _ a: RLSDevice, _ b: RLSDevice, user: String = "") async throws {
        let storage = data.storage
        try a.execute("INSERT INTO notes(id, user_id, body) VALUES ('n1', '\(user)', 'Welcome\nAgenda\nActions')")
        try await a.sync(storage, Self.database)
        try await b.sync(storage, Self.database)
        #expect(try body(b) == "Welcome\nAgenda\nActions")
        try a.execute("UPDATE notes SET body = 'Welcome everyone\nAgenda\nActions'")
        try b.execute("UPDATE notes SET body = 'Welcome\nAgenda\nNew line from B\nActions - DONE'")
        for _ in 0..<2 { for device in [a, b] { try await device.sync(storage, Self.database) } }
        let merged = "Welcome everyone\nAgenda\nNew line from B\nActions - DONE"
        #expect(try body(a) == merged)
        #expect(try body(b) == merged)
        #expect(try await serverBody(data) == merged)
        let late = try device(a.principal)
        try await late.sync(storage, Self.database)
        #expect(try body(late) == merged)
    }

    @Test(arguments: StorageBackend.allCases)
    func twoDevicesKeepBothLineEdits(_ backend: StorageBackend) async throws {
        try await withNotes(backend) { data in
            try await twoDevicesKeepBothLineEdits(data, try device(), try device())
            // The column is not recorded as a whole: only block clocks name it.
            #expect(try await data.query("SELECT count(*) FROM notes_cloudsync WHERE col_name = 'body'", database: Self.database).first?.first?.integerValue == 0)
        }
    }

    @Test(arguments: StorageBackend.allCases)
    func underRowLevelSecurity(_ backend: StorageBackend) async throws {
        try await withNotes(backend) { data in
            try await data.storage.setPolicy(
                TablePolicy(table: "notes", select: "user_id = auth_userid()", insert: "NEW.user_id = auth_userid()",
                            update: "OLD.user_id = auth_userid() AND NEW.user_id = OLD.user_id", delete: "OLD.user_id = auth_userid()"),
                database: Self.database)
            let alice = claims("alice", database: Self.database)
            try await twoDevicesKeepBothLineEdits(data, try device(alice), try device(alice), user: "alice")
            // Bob sees nothing of Alice's note, and his block changes to it are refused.
            let bob = try device(claims("bob", database: Self.database))
            try await bob.sync(data.storage, Self.database)
            #expect(try bob.device.context.connection.rows("SELECT id FROM notes").isEmpty)
            try bob.execute("INSERT INTO notes(id, user_id, body) VALUES ('n1', 'alice', 'Hijacked')")
            let denied = try await bob.sync(data.storage, Self.database)
            #expect(!denied.isEmpty)
            #expect(try await serverBody(data) == "Welcome everyone\nAgenda\nNew line from B\nActions - DONE")
        }
    }

    /// Rows written while the column was plain become blocks when the mode is switched on;
    /// block-mode devices then merge line by line.
    @Test(arguments: StorageBackend.allCases)
    func rowsWrittenBeforeAreConverted(_ backend: StorageBackend) async throws {
        try await withNotes(backend, block: false) { data in
            let plain = try device(block: false)
            try plain.execute("INSERT INTO notes(id, body) VALUES ('n1', 'one\ntwo\nthree'), ('n2', NULL)")
            try await plain.sync(data.storage, Self.database)
            try await data.storage.setBlockColumn(database: Self.database, table: "notes", column: "body", delimiter: "\n")
            let a = try device(), b = try device()
            try await a.sync(data.storage, Self.database)
            try await b.sync(data.storage, Self.database)
            #expect(try body(a) == "one\ntwo\nthree")
            try a.execute("UPDATE notes SET body = 'ONE\ntwo\nthree' WHERE id = 'n1'")
            try b.execute("UPDATE notes SET body = 'one\ntwo\nTHREE' WHERE id = 'n1'")
            for _ in 0..<2 { for device in [a, b] { try await device.sync(data.storage, Self.database) } }
            #expect(try body(a) == "ONE\ntwo\nTHREE")
            #expect(try body(b) == "ONE\ntwo\nTHREE")
            #expect(try await serverBody(data) == "ONE\ntwo\nTHREE")
        }
    }

    /// Another program's SQL UPDATE of the text in PostgreSQL becomes block changes: a device
    /// that edited another line meanwhile keeps both edits, and so does the column. Its
    /// INSERT reaches the devices too, and the settings survive reopening.
    @Test func directSQLWritesOnPostgresBecomeBlockChanges() async throws {
        try await withNotes(.postgres) { data in
            let storage = data.storage
            let a = try device(), b = try device()
            try a.execute("INSERT INTO notes(id, body) VALUES ('n1', 'L1\nL2\nL3')")
            try await a.sync(storage, Self.database)
            try await b.sync(storage, Self.database)
            try await direct(data, "UPDATE notes SET body = 'L1\nL2 from SQL\nL3' WHERE id = 'n1'")
            try a.execute("UPDATE notes SET body = 'L1\nL2\nL3 from A' WHERE id = 'n1'")
            try await a.sync(storage, Self.database)
            try await b.sync(storage, Self.database)
            try await a.sync(storage, Self.database)
            let merged = "L1\nL2 from SQL\nL3 from A"
            #expect(try body(a) == merged)
            #expect(try body(b) == merged)
            #expect(try await serverBody(data) == merged)
            #expect(try await data.query("SELECT count(*) FROM notes_cloudsync WHERE col_name = 'body'", database: Self.database).first?.first?.integerValue == 0)

            try await direct(data, "INSERT INTO notes(id, body) VALUES ('n2', 'x\ny')")
            try await data.withAnotherStorage { another in
                #expect(try await another.blockColumns(database: Self.database) == [BlockColumnSetting(table: "notes", column: "body", delimiter: "\n")])
                try await b.sync(another, Self.database)
            }
            #expect(try body(b, "n2") == "x\ny")
            try b.execute("UPDATE notes SET body = 'x\ny from B' WHERE id = 'n2'")
            try await direct(data, "UPDATE notes SET body = 'x from SQL\ny' WHERE id = 'n2'")
            try await b.sync(storage, Self.database)
            try await b.sync(storage, Self.database)
            #expect(try body(b, "n2") == "x from SQL\ny from B")
            #expect(try await serverBody(data, "n2") == "x from SQL\ny from B")
        }
    }

    /// A table whose only other column is a block column, written by another program in
    /// PostgreSQL: its insert (a sentinel and blocks), an update merged with a device's edit
    /// of another line, a key change and a delete all reach the device.
    @Test func directInsertKeyChangeAndDeleteOfABlockOnlyTableOnPostgres() async throws {
        let schema = "CREATE TABLE docs(id TEXT PRIMARY KEY NOT NULL, body TEXT)"
        try await withStorage(.postgres) { data in
            try await data.storage.createDatabase(name: "docs.sqlite", schema: schema, tables: nil)
            try await data.storage.setBlockColumn(database: "docs.sqlite", table: "docs", column: "body", delimiter: "\n")
            let device = try RLSDevice(.administrator, schema: schema, table: "docs")
            try device.execute("SELECT cloudsync_set_column('docs', 'body', 'algo', 'block')")
            func rows() throws -> [[SQLValue]] { try device.device.context.connection.rows("SELECT id, body FROM docs ORDER BY id") }
            func direct(_ sql: String) async throws { _ = try await data.query(sql, database: "docs.sqlite") }

            try await direct("INSERT INTO docs(id, body) VALUES ('d1', 'a\nb')")
            try await device.sync(data.storage, "docs.sqlite")
            #expect(try rows() == [[.string("d1"), .string("a\nb")]])
            try device.execute("UPDATE docs SET body = 'a\nB' WHERE id = 'd1'")
            try await direct("UPDATE docs SET body = 'A\nb' WHERE id = 'd1'")
            try await device.sync(data.storage, "docs.sqlite")
            try await device.sync(data.storage, "docs.sqlite")
            #expect(try rows() == [[.string("d1"), .string("A\nB")]])
            #expect(try await data.query("SELECT body FROM docs", database: "docs.sqlite") == [[.string("A\nB")]])

            try await direct("UPDATE docs SET id = 'd2' WHERE id = 'd1'")
            try await device.sync(data.storage, "docs.sqlite")
            #expect(try rows() == [[.string("d2"), .string("A\nB")]])
            try await direct("DELETE FROM docs WHERE id = 'd2'")
            try await device.sync(data.storage, "docs.sqlite")
            #expect(try rows().isEmpty)
        }
    }

    /// Several replicas edit lines of shared notes at random (and another program writes the
    /// text in PostgreSQL), sync through the PostgreSQL storage in random order, with uploads
    /// sent twice and pages received again; at the end every replica and PostgreSQL hold the
    /// same texts.
    @Test(arguments: Array(UInt64(1)...UInt64(5)))
    func randomizedConvergenceThroughPostgres(_ seed: UInt64) async throws {
        try await withNotes(.postgres) { data in
            var random = SeededGenerator(seed: seed)
            let devices = try (0..<3).map { _ in try device() }
            let ids = ["n1", "n2"]
            try devices[0].execute("INSERT INTO notes(id, body) VALUES ('n1', 'a\nb\nc\nd'), ('n2', 'one\ntwo')")
            try await devices[0].sync(data.storage, Self.database)

            func edit(_ text: String?, _ tag: String) -> String {
                var lines = (text ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let index = Int.random(in: 0..<max(1, lines.count), using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where lines.count > 1: lines.remove(at: index)
                case 1: lines.insert(tag, at: index)
                default: if lines.isEmpty { lines = [tag] } else { lines[index] += tag }
                }
                return lines.joined(separator: "\n")
            }
            for step in 0..<40 {
                let id = ids.randomElement(using: &random)!
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<5:
                    let device = devices.randomElement(using: &random)!
                    try device.device.context.connection.run(
                        "UPDATE notes SET body = ?1 WHERE id = ?2", [.string(edit(try body(device, id), "d\(step)")), .string(id)])
                case 5:
                    let text = edit(try await serverBody(data, id), "s\(step)").replacing("'", with: "''")
                    try await direct(data, "UPDATE notes SET body = '\(text)' WHERE id = '\(id)'")
                default:
                    let device = devices.randomElement(using: &random)!
                    let resend = Bool.random(using: &random)
                    let cursor = device.device.sendCursor
                    try await device.sync(data.storage, Self.database)
                    if resend, let old = try { device.device.sendCursor = cursor; return try device.device.pendingUpload() }() {
                        _ = try await data.storage.merge(database: Self.database, site: device.site, payload: old.payload, as: .administrator)
                        device.device.sendCursor = old.last
                    }
                    if Int.random(in: 0..<4, using: &random) == 0 {
                        device.device.checkCursor = .start
                        try await device.receive(data.storage, Self.database)
                    }
                }
            }
            for _ in 0..<2 { for device in devices { try await device.sync(data.storage, Self.database) } }
            for id in ids {
                let texts = try devices.map { try body($0, id) }
                #expect(Set(texts).count == 1, "\(id): \(texts)")
                #expect(try await serverBody(data, id) == texts[0])
            }
        }
    }
}
