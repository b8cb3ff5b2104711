import Foundation
import Testing
@testable import CloudSyncCore

/// The `block_text` and `block_text_observations` cases of `vectors-v2.json`.
enum BlockVectors {
    struct Case {
        var name: String
        var delimiter: String
        var baseText: String
        var editA: String
        var editB: String
        var basePayload: [UInt8]
        var editPayloadA: [UInt8]
        var editPayloadB: [UInt8]
        var finalText: String
        /// (key, text, col_version) of every alive block after the merge, in key order.
        var finalBlocks: [(key: String, text: String, version: Int64)]
    }

    static func root() -> [String: Any] { WireVectors.fixture("vectors-v2") }

    static let cases: [Case] = (root()["block_text"] as! [[String: Any]]).map { entry in
        func payload(_ key: String) -> [UInt8] {
            Hex.decode((entry[key] as! [String: Any])["payload_hex"] as! String)!
        }
        return Case(
            name: entry["name"] as! String, delimiter: entry["delimiter"] as! String,
            baseText: entry["base_text"] as! String, editA: entry["edit_a"] as! String, editB: entry["edit_b"] as! String,
            basePayload: payload("base_insert_on_a"), editPayloadA: payload("edit_payload_a"), editPayloadB: payload("edit_payload_b"),
            finalText: entry["final_text_a"] as! String,
            finalBlocks: (entry["final_blocks_a"] as! [[Any]]).map { ($0[0] as! String, $0[1] as! String, Int64($0[2] as! Int)) })
    }

    static func observation(_ name: String) -> [String: Any] {
        (root()["block_text_observations"] as! [[String: Any]]).first { $0["name"] as? String == name }!
    }
}

let notesSchema = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, title TEXT, body TEXT)"

/// A replica of the vectors' `notes` table with `body` in block mode.
func notesDatabase(delimiter: String = "\n", path: String = ":memory:") throws -> TestDatabase {
    let db = try TestDatabase(path: path)
    try db.execute(notesSchema)
    try db.execute("SELECT cloudsync_init('notes')")
    try db.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')")
    if delimiter != "\n" {
        try db.connection.run("SELECT cloudsync_set_column('notes', 'body', 'delimiter', ?1)", [.string(delimiter)])
    }
    return db
}

extension TestDatabase {
    func body(_ id: String = "n1") throws -> String? {
        try scalar("SELECT body FROM notes WHERE id = ?1", [.string(id)])?.stringValue
    }

    /// The alive blocks of a row's body: (key, text, col_version), in key order.
    func blocks(_ id: String = "n1") throws -> [(key: String, text: String, version: Int64)] {
        try rows("""
            SELECT substr(c.col_name, 6), b.col_value, c.col_version FROM notes_cloudsync c JOIN notes_cloudsync_blocks b USING (pk, col_name)
              WHERE c.pk = cloudsync_pk_encode(?1) AND c.col_name LIKE 'body' || char(31) || '%' AND c.col_version % 2 = 1 ORDER BY c.col_name
            """, [.string(id)]).map { ($0[0].stringValue!, $0[1].stringValue!, $0[2].integerValue!) }
    }

    func setBody(_ text: String?, id: String = "n1") throws {
        try connection.run("UPDATE notes SET body = ?1 WHERE id = ?2", [text.map(SQLValue.string) ?? .null, .string(id)])
    }
}

@Suite("Block text: vectors")
struct BlockTextVectorTests {
    @Test("1.0.12's payloads decode to the listed texts and blocks, in either order", arguments: BlockVectors.cases.map(\.name))
    func referencePayloads(name: String) throws {
        let vector = BlockVectors.cases.first { $0.name == name }!
        for order in [[vector.editPayloadA, vector.editPayloadB], [vector.editPayloadB, vector.editPayloadA]] {
            let db = try notesDatabase(delimiter: vector.delimiter)
            try db.apply(vector.basePayload)
            #expect(try db.body() == vector.baseText)
            for payload in order + order { try db.apply(payload) }
            #expect(try db.body() == vector.finalText)
            let blocks = try db.blocks()
            #expect(blocks.map(\.key) == vector.finalBlocks.map(\.key))
            #expect(blocks.map(\.text) == vector.finalBlocks.map(\.text))
            #expect(blocks.map(\.version) == vector.finalBlocks.map(\.version))
        }
    }

    @Test("our replicas making the same edits end with the same texts (both lines kept for a same-place insert)", arguments: BlockVectors.cases.map(\.name))
    func ourEdits(name: String) throws {
        let vector = BlockVectors.cases.first { $0.name == name }!
        let a = try notesDatabase(delimiter: vector.delimiter), b = try notesDatabase(delimiter: vector.delimiter)
        try a.connection.run("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', ?1)", [.string(vector.baseText)])
        try a.send(to: b)
        #expect(try b.body() == vector.baseText)
        try a.setBody(vector.editA)
        try b.setBody(vector.editB)
        try a.send(to: b)
        try b.send(to: a)
        #expect(try a.body() == b.body())
        #expect(try a.blocks().map(\.key) == b.blocks().map(\.key))
        if name == "same_position_insert" {
            // 1.0.12 keeps only B-new; both inserted lines survive here, in one order.
            let lines = try #require(try a.body()).split(separator: "\n").map(String.init)
            #expect(lines.first == "l1" && lines.last == "l2")
            #expect(Set(lines) == ["l1", "A-new", "B-new", "l2"] && lines.count == 4)
        } else {
            #expect(try a.body() == vector.finalText)
        }
    }

    @Test("our payloads for 1.x-compatible edits carry 1.0.12's block rows", arguments: ["different_lines", "delete_vs_edit", "same_line_edit", "paragraph_delimiter"])
    func sameRowsAsReference(name: String) throws {
        let vector = BlockVectors.cases.first { $0.name == name }!
        let a = try notesDatabase(delimiter: vector.delimiter)
        try a.apply(vector.basePayload)
        let cursor = try #require(try a.integer("SELECT cloudsync_db_version()"))
        try a.setBody(vector.editA)
        let ours = try a.feed("WHERE db_version > \(cursor)").map { [$0[2], $0[3], $0[4]] }
        let reference = try PayloadDecoder.decode(vector.editPayloadA).changes.map { [SQLValue.string($0.column), $0.value, .integer($0.colVersion)] }
        #expect(ours == reference)
    }

    @Test("a block change made by 1.0.12 merges with our own edit of another line")
    func mixedWithReference() throws {
        for vector in BlockVectors.cases {
            let db = try notesDatabase(delimiter: vector.delimiter)
            try db.apply(vector.basePayload)
            try db.setBody(vector.editB)
            try db.apply(vector.editPayloadA)
            let other = try notesDatabase(delimiter: vector.delimiter)
            try other.apply(vector.basePayload)
            try other.apply(vector.editPayloadA)
            try db.send(to: other)
            #expect(try db.body() == other.body(), "\(vector.name)")
            if vector.name == "same_position_insert" {
                #expect(try db.body() == "l1\nA-new\nB-new\nl2")
            } else {
                #expect(try db.body() == vector.finalText, "\(vector.name)")
            }
        }
    }

    @Test("a NULL text inserted is recorded as one empty block a0, materialized as '' elsewhere")
    func nullTextInsert() throws {
        let observation = BlockVectors.observation("null_text_insert")
        let a = try notesDatabase(), b = try notesDatabase()
        try a.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', NULL)")
        let expected = (observation["changes_on_a"] as! [[Any]]).map { row in
            [SQLValue.string(row[0] as! String), WireVectors.value(row[1] as! [String: Any]), .integer(Int64(row[2] as! Int))]
        }
        #expect(try a.feed().map { [$0[2], $0[3], $0[4]] } == expected)
        #expect(try a.scalar("SELECT body FROM notes") == .null)
        try a.send(to: b)
        #expect(try b.body() == "")
    }

    @Test("text, then NULL, then text: the key a0 comes back with its clock continued")
    func nullThenTextReusesKey() throws {
        let observation = BlockVectors.observation("text_then_null_then_text_reuses_key")
        let a = try notesDatabase()
        try a.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', 'x')")
        for step in observation["steps"] as! [[String: Any]] {
            try a.setBody(step["set_body_to"] as? String)
            let expected = (step["changes_on_a"] as! [[Any]]).map { row in
                [SQLValue.string(row[0] as! String), WireVectors.value(row[1] as! [String: Any]), .integer(Int64(row[2] as! Int)), .integer(Int64(row[3] as! Int)), .integer(Int64(row[4] as! Int))]
            }
            #expect(try a.feed().map { [$0[2], $0[3], $0[4], $0[5], $0[8]] } == expected)
            #expect(try a.scalar("SELECT body FROM notes") == WireVectors.value(step["body_on_a"] as! [String: Any]))
        }
    }

    @Test("switching on with a row present converts it at once (as 1.0.13), keeping the plain clock")
    func switchOnWithExistingRow() throws {
        let a = try TestDatabase(), b = try notesDatabase()
        try a.execute(notesSchema)
        try a.execute("SELECT cloudsync_init('notes')")
        try a.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', 'x\ny')")
        try a.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')")
        #expect(try a.blocks().map(\.key) == ["a0", "a1"])
        #expect(try a.blocks().map(\.text) == ["x", "y"])
        #expect(try a.integer("SELECT count(*) FROM notes_cloudsync WHERE col_name = 'body'") == 1)
        try a.setBody("x\ny\nz")
        try a.send(to: b)
        #expect(try b.body() == "x\ny\nz")
        // 1.0.12's mixture: the plain clock and the blocks of the first update.
        let reference = try notesDatabase()
        let observation = BlockVectors.observation("switch_on_with_existing_row")
        let site = try a.context.siteID()
        let changes = (observation["changes_after_next_update"] as! [[Any]]).map { row in
            Change(table: "notes", pk: try! PrimaryKeyCodec.encode([.string("n1")]), column: row[0] as! String,
                   value: WireVectors.value(row[1] as! [String: Any]), colVersion: Int64(row[2] as! Int),
                   dbVersion: Int64(row[3] as! Int), siteID: site, causalLength: 1, seq: Int64(row[4] as! Int))
        }
        try reference.context.merge(changes)
        #expect(try reference.body() == "x\ny\nz")
    }

    @Test("a block change for a column not in block mode is refused and changes nothing")
    func receiverWithoutBlockMode() throws {
        let sender = try notesDatabase()
        try sender.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', 'a')")
        let receiver = try TestDatabase()
        try receiver.execute(notesSchema)
        try receiver.execute("SELECT cloudsync_init('notes')")
        #expect(throws: CloudSyncError.self) { try sender.send(to: receiver) }
        #expect(try receiver.integer("SELECT count(*) FROM notes") == 0)
    }

    @Test("cloudsync_text_materialize restores the base column; a missing row is left alone; errors")
    func textMaterialize() throws {
        let db = try notesDatabase()
        try db.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', 'a\nb')")
        try db.execute("SELECT cloudsync_disable('notes'); UPDATE notes SET body = 'bypassed'; SELECT cloudsync_enable('notes')")
        #expect(try db.integer("SELECT cloudsync_text_materialize('notes', 'body', 'n1')") == 1)
        #expect(try db.body() == "a\nb")
        #expect(try db.integer("SELECT cloudsync_text_materialize('notes', 'body', 'missing')") == 1)
        #expect(try db.integer("SELECT count(*) FROM notes") == 1)
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_text_materialize('notes', 'body')") }
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_text_materialize('notes', 'title', 'n1')") }
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_text_materialize('notes', 'body', 'n1', 'x')") }
    }
}

@Suite("Block text: settings and row rules")
struct BlockTextRuleTests {
    @Test("refused on a key column, a non-text column, an unknown column or table; nothing recorded")
    func refusals() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, n INTEGER, data BLOB, body TEXT)")
        try db.execute("SELECT cloudsync_init('t')")
        for (column, message) in [("id", "primary key"), ("n", "not TEXT"), ("data", "not TEXT"), ("nope", "not found")] {
            do {
                try db.execute("SELECT cloudsync_set_column('t', '\(column)', 'algo', 'block')")
                Issue.record("\(column) accepted")
            } catch let error as CloudSyncError {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_set_column('other', 'body', 'algo', 'block')") }
        #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_set_column('t', 'body', 'algo', 'lines')") }
        #expect(try db.integer("SELECT count(*) FROM cloudsync_table_settings WHERE col_name != '*'") == 0)
    }

    @Test("the setting survives reopening; the schema hash does not change")
    func survivesReopening() throws {
        let path = TestDatabase.temporaryPath()
        var db: TestDatabase? = try TestDatabase(path: path)
        try db!.execute(notesSchema)
        try db!.execute("SELECT cloudsync_init('notes')")
        let hash = try db!.context.currentSchemaHash()
        try db!.execute("SELECT cloudsync_set_column('notes', 'body', 'algo', 'block')")
        try db!.connection.run("SELECT cloudsync_set_column('notes', 'body', 'delimiter', ?1)", [.string("\n\n")])
        #expect(try db!.context.currentSchemaHash() == hash)
        db!.close()
        db = nil
        let reopened = try TestDatabase(path: path)
        try reopened.execute("INSERT INTO notes(id, body) VALUES ('n1', 'p1\n\np2')")
        #expect(try reopened.blocks().map(\.text) == ["p1", "p2"])
    }

    @Test("row delete hides the blocks; a re-insert starts at a0; a concurrent edit of a deleted row stays deleted")
    func rowRules() throws {
        let a = try notesDatabase(), b = try notesDatabase()
        try a.execute("INSERT INTO notes(id, body) VALUES ('n1', 'l1\nl2')")
        try a.send(to: b)
        try a.execute("DELETE FROM notes")
        try b.setBody("l1\nl2 edited")
        try a.send(to: b)
        try b.send(to: a)
        #expect(try a.integer("SELECT count(*) FROM notes") == 0)
        #expect(try b.integer("SELECT count(*) FROM notes") == 0)
        try b.execute("INSERT INTO notes(id, body) VALUES ('n1', 'new')")
        #expect(try b.blocks().map(\.key) == ["a0"])
        try b.send(to: a)
        #expect(try a.body() == "new")
        #expect(try a.blocks().map(\.text) == ["new"])
    }

    @Test("a row whose only non-key column is in block mode syncs and merges")
    func onlyBlockColumn() throws {
        func replica() throws -> TestDatabase {
            let db = try TestDatabase()
            try db.execute("CREATE TABLE doc(id TEXT PRIMARY KEY NOT NULL, text TEXT)")
            try db.execute("SELECT cloudsync_init('doc'); SELECT cloudsync_set_column('doc', 'text', 'algo', 'block')")
            return db
        }
        let a = try replica(), b = try replica()
        try a.execute("INSERT INTO doc VALUES ('d', 'one\ntwo')")
        try a.send(to: b)
        try a.execute("UPDATE doc SET text = 'one!\ntwo'")
        try b.execute("UPDATE doc SET text = 'one\ntwo!'")
        try a.send(to: b)
        try b.send(to: a)
        #expect(try a.scalar("SELECT text FROM doc") == .string("one!\ntwo!"))
        #expect(try b.scalar("SELECT text FROM doc") == .string("one!\ntwo!"))
    }

    @Test("dropping a block column forgets its blocks; block changes for it from a peer are skipped")
    func droppedBlockColumn() throws {
        let a = try notesDatabase(), b = try notesDatabase()
        try a.execute("INSERT INTO notes(id, title, body) VALUES ('n1', 'T', 'x\ny')")
        try b.execute("SELECT cloudsync_begin_alter('notes'); ALTER TABLE notes DROP COLUMN body; SELECT cloudsync_commit_alter('notes')")
        #expect(try b.integer("SELECT count(*) FROM notes_cloudsync WHERE instr(col_name, char(31)) > 0") == 0)
        try a.send(to: b)
        #expect(try b.rows("SELECT id, title FROM notes") == [[.string("n1"), .string("T")]])
        #expect(try b.integer("SELECT count(*) FROM notes_cloudsync WHERE instr(col_name, char(31)) > 0") == 0)
        #expect(try b.integer("SELECT count(*) FROM cloudsync_table_settings WHERE col_name = 'body' AND key IN ('algo', 'delimiter')") == 0)
    }

    @Test("a plain change of the column (from a peer without block mode) sets the whole text")
    func plainChangeIntoBlockColumn() throws {
        let plain = try TestDatabase()
        try plain.execute(notesSchema)
        try plain.execute("SELECT cloudsync_init('notes')")
        try plain.execute("INSERT INTO notes(id, body) VALUES ('n1', 'whole')")
        let db = try notesDatabase()
        try plain.send(to: db)
        #expect(try db.body() == "whole")
    }
}

@Suite("Block text: payload v2")
struct PayloadV2Tests {
    @Test("a v2 payload with a damaged checksum is refused and changes nothing")
    func checksumMismatch() throws {
        let vector = BlockVectors.cases[0]
        let db = try notesDatabase()
        var damaged = vector.basePayload
        damaged[31] ^= 0x01
        do {
            try db.apply(damaged)
            Issue.record("accepted")
        } catch let error as CloudSyncError {
            #expect(error.message.contains("invalid checksum"))
        }
        #expect(try db.integer("SELECT count(*) FROM notes") == 0)
        var body = vector.basePayload
        body[body.count - 1] ^= 0x01
        #expect(throws: CloudSyncError.self) { try db.apply(body) }
        #expect(try db.integer("SELECT count(*) FROM notes") == 0)
    }

    @Test("every v2 payload of the vectors passes the checksum; ours written as v2 round-trip")
    func roundTrip() throws {
        for vector in BlockVectors.cases {
            for payload in [vector.basePayload, vector.editPayloadA, vector.editPayloadB] {
                let decoded = try PayloadDecoder.decode(payload)
                #expect(decoded.header.version == 2)
                var builder = PayloadBuilder(format: .v2)
                for change in decoded.changes { builder.append(change) }
                let ours = builder.finish(schemaHash: decoded.header.schemaHash, libraryVersion: (0, 9, 0))
                #expect(try PayloadDecoder.decode(ours).changes == decoded.changes)
                #expect(Array(ours[26..<32]) == Array(payload[26..<32]) || ours.count != payload.count)
            }
        }
    }

    @Test("a v2 payload with an unknown schema hash is refused unless skip_schema_hash_check is set")
    func unknownHash() throws {
        let db = try notesDatabase()
        var builder = PayloadBuilder(format: .v2)
        for change in try PayloadDecoder.decode(BlockVectors.cases[0].basePayload).changes { builder.append(change) }
        let payload = builder.finish(schemaHash: 42, libraryVersion: (1, 0, 12))
        #expect(throws: CloudSyncError.self) { try db.apply(payload) }
        try db.execute("SELECT cloudsync_set('skip_schema_hash_check', '1')")
        try db.apply(payload)
        #expect(try db.body() == BlockVectors.cases[0].baseText)
    }
}

@Suite("Fractional index")
struct FractionalIndexTests {
    func key(_ a: String?, _ b: String?) -> String? {
        FractionalIndex.between(a.map { Array($0.utf8) }, b.map { Array($0.utf8) }).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func observedKeys() {
        #expect(key(nil, nil) == "a0")
        #expect(key(nil, "a0") == "Zz")
        #expect(key("Zz", "a0") == "ZzV")
        #expect(key("a0", "a1") == "a0V")
        #expect(key("a0V", "a1") == "a0l")
        #expect(key("a1", "a2") == "a1V")
        #expect(key("a1", nil) == "a2")
        #expect(key("az", nil) == "b00")
        #expect(key(nil, "b00") == "az")
        #expect(key("a1", "a0") == nil)
    }

    @Test("random keys stay strictly between their bounds and valid; site extensions too")
    func randomBetween() {
        var generator = SystemRandomNumberGenerator()
        var keys: [[UInt8]] = [Array("a0".utf8)]
        let sites = (0..<3).map { _ in FractionalIndex.siteDigits((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        for _ in 0..<2000 {
            let index = Int.random(in: 0...keys.count, using: &generator)
            let lower = index > 0 ? keys[index - 1] : nil
            let upper = index < keys.count ? keys[index] : nil
            guard var next = FractionalIndex.between(lower, upper) else { Issue.record("no key"); return }
            if Bool.random(using: &generator) { next = FractionalIndex.extend(next, by: sites.randomElement()!, below: upper) }
            #expect(FractionalIndex.isValid(next))
            if let lower { #expect(lower.lexicographicallyPrecedes(next)) }
            if let upper { #expect(next.lexicographicallyPrecedes(upper)) }
            keys.insert(next, at: index)
        }
    }
}
