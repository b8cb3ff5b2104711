import Foundation
import Testing
@testable import CloudSyncCore

/// The 0.8 text schema hash joins the synchronized tables in creation order, with membership
/// by exact name (wire-format §11), as 0.8.12 computes it: the cases of `vectors-v2.json`
/// recorded from that client.
@Suite("Text schema hash: table order and membership")
struct TextSchemaHashOrderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var createStatements: [String]
        var initOrder: [String]
        var hash: UInt64
        var alphabeticalHash: Int64
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        guard let url = Bundle.module.url(forResource: "vectors-v2", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = root["text_schema_hash_0_8"] as? [[String: Any]]
        else { fatalError("cannot load text_schema_hash_0_8 from Fixtures/vectors-v2.json") }
        return entries.map { entry in
            Case(name: entry["name"] as! String,
                 createStatements: entry["create_statements"] as! [String],
                 initOrder: entry["init_order"] as! [String],
                 hash: UInt64(entry["hash_uint64"] as! String)!,
                 alphabeticalHash: Int64(entry["alphabetical_order_text_would_hash_to_int64"] as! String)!)
        }
    }()

    /// A database set up as the case was on 0.8.12.
    func database(_ vector: Case) throws -> TestDatabase {
        let db = try TestDatabase()
        for statement in vector.createStatements { try db.execute(statement) }
        for table in vector.initOrder { try db.execute("SELECT cloudsync_init('\(table)')") }
        if vector.name == "alter_keeps_position" {
            // The recorded text shows `zz` altered in place: it keeps its position.
            try db.execute("SELECT cloudsync_begin_alter('zz'); ALTER TABLE zz ADD COLUMN w TEXT; SELECT cloudsync_commit_alter('zz')")
        }
        return db
    }

    func newestRecordedHash(_ db: TestDatabase) throws -> Int64? {
        try db.integer("SELECT hash FROM cloudsync_schema_versions ORDER BY seq DESC LIMIT 1")
    }

    /// Whether `hash` is among the hashes the database recognises.
    func isRecorded(_ hash: UInt64, _ db: TestDatabase) throws -> Bool {
        try db.integer("SELECT count(*) FROM cloudsync_schema_versions WHERE hash = ?1", [.integer(SchemaHash.signed(hash))]) == 1
    }

    @Test("the hash 0.8.12 computes", arguments: cases)
    func matchesReference(vector: Case) throws {
        let db = try database(vector)
        #expect(try db.context.currentSchemaHash() == vector.hash)
        #expect(try isRecorded(vector.hash, db))
    }

    @Test("payloads carry it, and a 0.8 peer's payload is accepted", arguments: cases)
    func payloadsUseIt(vector: Case) throws {
        let db = try database(vector)
        let table = vector.initOrder.first { name in vector.createStatements.contains { $0.contains("TABLE \(name)(") } }!
        try db.execute("INSERT INTO \(table)(id) VALUES ('k1')")
        // Written as for a 0.8 peer, which checks the text hash.
        try db.execute("SELECT cloudsync_set('payload_version', 1)")
        let payload = try #require(try db.payload())
        #expect(try PayloadHeader(parsing: payload).schemaHash == vector.hash)
        let peer = try database(vector)
        try peer.apply(payload)
        #expect(try peer.integer("SELECT count(*) FROM \(table)") == 1)
    }

    /// A database made before the fix recorded only the name-ordered hash; it must take a 0.8
    /// client's payload at once, and remember the right hash from then on.
    @Test func databasesWithTheOldHashUpgradeThemselves() throws {
        let vector = try #require(Self.cases.first { $0.name == "notes_then_labels" })
        let db = try database(vector)
        try db.execute("DELETE FROM cloudsync_schema_versions")
        try db.connection.run("INSERT INTO cloudsync_schema_versions(hash, seq) VALUES (?1, 1)", [.integer(vector.alphabeticalHash)])

        let sender = try database(vector)
        try sender.execute("SELECT cloudsync_set('payload_version', 1)")
        try sender.execute("INSERT INTO notes(id, body) VALUES ('n1', 'from a 0.8 client')")
        try db.apply(try #require(try sender.payload()))
        #expect(try db.rows("SELECT id, body FROM notes") == [[.string("n1"), .string("from a 0.8 client")]])
        #expect(try isRecorded(vector.hash, db))

        // A hash this database never had is still refused.
        var unknown = try #require(try sender.payload())
        unknown[20] ^= 0xFF
        #expect(throws: CloudSyncError.self) { try db.context.applyPayload(unknown) }
    }

    /// Re-recording a known hash makes it the newest again (0.8.12 and 1.0.12 do the same);
    /// each schema records its text and its structural hash.
    @Test func aSchemaChangedAndChangedBackIsNewestAgain() throws {
        let db = try TestDatabase()
        try db.execute("CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, v TEXT); SELECT cloudsync_init('t')")
        let first = try newestRecordedHash(db)
        try db.execute("SELECT cloudsync_begin_alter('t'); ALTER TABLE t ADD COLUMN w TEXT; SELECT cloudsync_commit_alter('t')")
        #expect(try newestRecordedHash(db) != first)
        try db.execute("SELECT cloudsync_begin_alter('t'); ALTER TABLE t DROP COLUMN w; SELECT cloudsync_commit_alter('t')")
        #expect(try newestRecordedHash(db) == first)
        #expect(try db.integer("SELECT count(*) FROM cloudsync_schema_versions") == 4)
        #expect(try isRecorded(try db.context.currentSchemaHash(), db))
        #expect(try isRecorded(try db.context.currentStructuralSchemaHash(), db))
    }
}
