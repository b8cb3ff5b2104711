import Testing
@testable import CloudSyncCore

/// The engine against the reference payloads: replaying each vector's operations must produce
/// exactly its changes, and applying its payload must produce the same rows as the replay.
@Suite("Engine against vectors.json")
struct EngineVectorTests {
    static let payloads = WireVectors.payloads

    /// A database whose site id is the vector's, with the vector's schema synchronized.
    private func replica(for vector: WireVectors.PayloadVector, siteID: [UInt8]? = nil) throws -> TestDatabase {
        let db = try TestDatabase()
        if let siteID {
            try db.context.ensureGlobalTables()
            try db.connection.run("INSERT INTO cloudsync_site_id(rowid, site_id) VALUES (0, ?1)", [.blob(siteID)])
        }
        for statement in vector.schema { try db.execute(statement) }
        try db.execute("SELECT cloudsync_init('*')")
        return db
    }

    private func tables(of db: TestDatabase) throws -> [String] {
        try db.context.synchronizedTableNames
    }

    @Test("replaying the ops yields the vector's changes", arguments: payloads.map(\.name))
    func replayMatchesChanges(name: String) throws {
        let vector = Self.payloads.first { $0.name == name }!
        let db = try replica(for: vector, siteID: vector.siteID)
        for op in vector.ops { try db.execute(op) }
        let changes = try db.context.changes()
        #expect(changes == vector.changes)
        #expect(try db.context.currentSchemaHash() == vector.schemaHash)
    }

    @Test("our payload for the ops has the vector's header and body", arguments: payloads.map(\.name))
    func encodedPayloadMatches(name: String) throws {
        let vector = Self.payloads.first { $0.name == name }!
        let db = try replica(for: vector, siteID: vector.siteID)
        for op in vector.ops { try db.execute(op) }
        // The 0.8 generation's format (our default is the checksummed version 2).
        try db.execute("SELECT cloudsync_set('payload_version', 1)")
        let payload = try #require(try db.payload())
        let header = try PayloadHeader(parsing: payload)
        #expect(header.version == 1)
        #expect(header.schemaHash == vector.schemaHash)
        #expect(header.rowCount == vector.nrows)
        #expect(header.columnCount == 9)
        let body = header.expandedSize == 0
            ? Array(payload[PayloadHeader.size...])
            : try LZ4Block.decompress(payload[PayloadHeader.size...], expandedSize: Int(header.expandedSize))
        #expect(body == vector.body)
    }

    @Test("applying the vector's payload yields the rows of the replay", arguments: payloads.map(\.name))
    func applyMatchesReplay(name: String) throws {
        let vector = Self.payloads.first { $0.name == name }!
        let origin = try replica(for: vector, siteID: vector.siteID)
        for op in vector.ops { try origin.execute(op) }
        let target = try replica(for: vector)
        #expect(try target.apply(vector.payload) == Int64(vector.nrows))
        for table in try tables(of: origin) {
            #expect(try target.snapshot(table) == origin.snapshot(table))
        }
        // The receiver forwards the same winners it received.
        #expect(try target.context.changes().map(\.pk) == vector.changes.map(\.pk))
        // Applying it again changes nothing.
        let before = try target.feed()
        try target.apply(vector.payload)
        #expect(try target.feed() == before)
    }
}
