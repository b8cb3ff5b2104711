import Foundation
import Testing
@testable import CloudSyncCore

/// The 1.x generation's payloads and hashes (`vectors-v2.json`): structural hashes, version-2
/// payloads written by 1.0.12, and our checksummed writer.
@Suite("Payload v2 and structural hash against vectors-v2.json")
struct PayloadV2VectorTests {
    struct HashCase: Sendable, CustomTestStringConvertible {
        var name: String
        var createStatements: [String]
        var initOrder: [String]
        var text: String
        var hash: UInt64
        var testDescription: String { name }
    }

    struct PayloadCase: @unchecked Sendable, CustomTestStringConvertible {
        var name: String
        var schema: [String]
        var ops: [String]
        var siteID: [UInt8]
        var payload: [UInt8]
        var body: [UInt8]?
        var changes: [[[String: Any]]]
        var applyReturns: Int64
        var rowsAfterApply: [String: [[[String: Any]]]]
        var schemaHash: UInt64
        var testDescription: String { name }
    }

    static func root() -> [String: Any] { WireVectors.fixture("vectors-v2") }

    static let hashes: [HashCase] = (root()["structural_schema_hash"] as! [[String: Any]]).map { entry in
        HashCase(
            name: entry["name"] as! String,
            createStatements: entry["create_statements"] as! [String],
            initOrder: entry["init_order"] as! [String],
            text: entry["normalized_text"] as! String,
            hash: UInt64(entry["hash_uint64"] as! String)!)
    }

    static let payloads: [PayloadCase] = (root()["payloads_v2"] as! [[String: Any]]).map { entry in
        let header = entry["header"] as! [String: Any]
        return PayloadCase(
            name: entry["name"] as! String,
            schema: entry["schema"] as! [String],
            ops: entry["ops"] as! [String],
            siteID: Hex.decode(entry["site_id_hex"] as! String)!,
            payload: Hex.decode(entry["payload_hex"] as! String)!,
            body: (entry["body_uncompressed_hex"] as? String).flatMap { $0.isEmpty ? nil : Hex.decode($0) },
            changes: entry["changes"] as? [[[String: Any]]] ?? [],
            applyReturns: Int64(entry["apply_returns"] as! Int),
            rowsAfterApply: entry["rows_after_apply"] as! [String: [[[String: Any]]]],
            schemaHash: UInt64(header["schema_hash_uint64"] as! String)!)
    }

    /// The payloads whose values the vectors list in full (the 1.5 MB blob is given by size).
    static var smallPayloads: [PayloadCase] { payloads.filter { $0.body != nil } }

    func replica(schema: [String], siteID: [UInt8]? = nil) throws -> TestDatabase {
        let db = try TestDatabase()
        if let siteID {
            try db.context.ensureGlobalTables()
            try db.connection.run("INSERT INTO cloudsync_site_id(rowid, site_id) VALUES (0, ?1)", [.blob(siteID)])
        }
        for statement in schema { try db.execute(statement) }
        try db.execute("SELECT cloudsync_init('*')")
        return db
    }

    /// A listed value: its SQL value, or for a large blob its length.
    func matches(_ value: SQLValue, _ listed: [String: Any]) -> Bool {
        if listed["type"] as? String == "blob", let length = listed["length"] as? Int {
            guard case .blob(let bytes) = value else { return false }
            return bytes.count == length
        }
        return value == WireVectors.value(listed)
    }

    // MARK: Structural hash

    @Test("every structural hash matches 1.0.12's", arguments: hashes)
    func structuralHash(vector: HashCase) throws {
        let db = try TestDatabase()
        for statement in vector.createStatements { try db.execute(statement) }
        for table in vector.initOrder { try db.execute("SELECT cloudsync_init('\(table)')") }
        if vector.name == "after_alter_add_column" {
            let table = try #require(vector.initOrder.last)
            let column = try #require(vector.text.split(separator: ",").last?.split(separator: ":").dropFirst().first)
            try db.execute("SELECT cloudsync_begin_alter('\(table)'); ALTER TABLE \(table) ADD COLUMN \(column) TEXT; SELECT cloudsync_commit_alter('\(table)')")
        }
        if vector.name == "block_column_does_not_change_hash" {
            let table = try #require(vector.initOrder.first)
            let column = try #require(try db.rows("SELECT name FROM pragma_table_info(?1) WHERE pk = 0 AND type = 'TEXT' LIMIT 1", [.string(table)]).first?.first?.stringValue)
            try db.execute("SELECT cloudsync_set_column('\(table)', '\(column)', 'algo', 'block')")
        }
        #expect(try db.context.currentStructuralSchemaHash() == vector.hash)
        // Recorded next to the text hash, so payloads of either generation are recognised.
        #expect(try db.integer("SELECT count(*) FROM cloudsync_schema_versions WHERE hash = ?1", [.integer(SchemaHash.signed(vector.hash))]) == 1)
        #expect(try db.integer("SELECT count(*) FROM cloudsync_schema_versions WHERE hash = ?1", [.integer(SchemaHash.signed(try db.context.currentSchemaHash()))]) == 1)
    }

    // MARK: 1.0.12's payloads

    @Test("every 1.0.12 payload decodes and applies to the listed rows", arguments: payloads)
    func appliesToListedRows(vector: PayloadCase) throws {
        let db = try replica(schema: vector.schema)
        #expect(try db.apply(vector.payload) == vector.applyReturns)
        for (table, rows) in vector.rowsAfterApply {
            let actual = try db.rows("SELECT * FROM \(table) ORDER BY 1, 2")
            #expect(actual.count == rows.count, "\(table)")
            for (row, listed) in zip(actual, rows) {
                #expect(row.count == listed.count && zip(row, listed).allSatisfy(matches), "\(table): \(row)")
            }
        }
        // Idempotent.
        let before = try db.feed()
        try db.apply(vector.payload)
        #expect(try db.feed() == before)
    }

    @Test("every 1.0.12 payload decodes to the listed changes", arguments: smallPayloads)
    func decodesToListedChanges(vector: PayloadCase) throws {
        let (header, changes) = try PayloadDecoder.decode(vector.payload)
        #expect(header.version == 2)
        #expect(header.schemaHash == vector.schemaHash)
        // The vectors' generator read REAL bit patterns big-endian, as in version 1; 1.0.12 writes
        // them little-endian (its own rows_after_apply read -2.75 where the listed change says
        // -7.905e-321), so a listed REAL is the byte-swapped pattern of the true value.
        let listed = vector.changes.map(WireVectors.change).map { change in
            var change = change
            if case .real(let wrong) = change.value {
                let swapped = Double(bitPattern: (wrong < 0 ? -wrong : wrong).bitPattern.byteSwapped)
                change.value = .real(wrong < 0 ? -swapped : swapped)
            }
            return change
        }
        #expect(changes == listed)
    }

    // MARK: Our writer

    @Test("our default payload for the same ops is a checksummed v2 with 1.0.12's body and hash", arguments: smallPayloads)
    func ourPayloadMatches(vector: PayloadCase) throws {
        let db = try replica(schema: vector.schema, siteID: vector.siteID)
        for op in vector.ops { try db.execute(op) }
        let payload = try #require(try db.payload())
        let header = try PayloadHeader(parsing: payload)
        #expect(header.version == 2)
        #expect(header.schemaHash == vector.schemaHash)
        #expect(header.checksum == PayloadHeader.checksum(of: payload[PayloadHeader.size...]))
        let body = header.expandedSize == 0
            ? Array(payload[PayloadHeader.size...])
            : try LZ4Block.decompress(payload[PayloadHeader.size...], expandedSize: Int(header.expandedSize))
        #expect(body == vector.body)
        // A fresh replica applies it.
        let peer = try replica(schema: vector.schema)
        #expect(try peer.apply(payload) == Int64(header.rowCount))
    }

    @Test func theV1WriterStaysAvailableForOldPeers() throws {
        let db = try todoDatabase()
        try db.execute("INSERT INTO todo(id, title) VALUES ('1', 'milk')")
        try db.execute("SELECT cloudsync_set('payload_version', 1)")
        let v1 = try PayloadHeader(parsing: try #require(try db.payload()))
        #expect(try v1.version == 1 && v1.checksum == 0 && v1.schemaHash == db.context.currentSchemaHash())
        try db.execute("SELECT cloudsync_set('payload_version', 2)")
        let v2 = try PayloadHeader(parsing: try #require(try db.payload()))
        #expect(try v2.version == 2 && v2.schemaHash == db.context.currentStructuralSchemaHash())
        for bad in ["3", "0", "'two'"] {
            #expect(throws: CloudSyncError.self) { try db.execute("SELECT cloudsync_set('payload_version', \(bad))") }
        }
        #expect(try db.context.payloadFormat() == .v2)
    }

    // MARK: Damage

    /// Every single-bit corruption of a small v2 payload's body, and every truncation, is
    /// refused and changes nothing.
    @Test func everyDamagedV2PayloadIsRefusedAndChangesNothing() throws {
        let vector = try #require(Self.payloads.first { $0.name == "insert_update_delete" })
        let db = try replica(schema: vector.schema)
        try db.execute("INSERT INTO todo(id, title) VALUES ('local', 'kept')")
        let before = try db.snapshot("todo")
        let feed = try db.feed()
        var refused = 0
        for bit in (PayloadHeader.size * 8)..<(vector.payload.count * 8) {
            var damaged = vector.payload
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: CloudSyncError.self, "bit \(bit)") { try db.context.applyPayload(damaged) }
            refused += 1
        }
        for length in 0..<vector.payload.count {
            #expect(throws: CloudSyncError.self, "length \(length)") { try db.context.applyPayload(Array(vector.payload.prefix(length))) }
        }
        #expect(refused == (vector.payload.count - PayloadHeader.size) * 8)
        #expect(try db.snapshot("todo") == before)
        #expect(try db.feed() == feed)
        // The intact payload still applies.
        #expect(try db.apply(vector.payload) == vector.applyReturns)
    }
}
