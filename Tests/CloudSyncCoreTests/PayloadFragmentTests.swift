import CloudSyncTestSupport
import Foundation
import Testing
@testable import CloudSyncCore

/// Version-3 payloads: fragments of one large value (wire-format §8), staged until complete.
@Suite("Payload v3 fragments")
struct PayloadFragmentTests {
    static let schema = "CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, v TEXT)"
    /// `cross_version.v3_fragment_constructed`: three pieces of one TEXT value.
    static func constructed() -> [String: Any] {
        (WireVectors.fixture("vectors-v2")["cross_version"] as! [String: Any])["v3_fragment_constructed"] as! [String: Any]
    }
    static let expectedText = String(repeating: "0123456789abcdef", count: 200)

    func replica() throws -> TestDatabase {
        let db = try TestDatabase()
        try db.execute(Self.schema)
        try db.execute("SELECT cloudsync_init('t')")
        return db
    }

    func staged(_ db: TestDatabase) throws -> Int64 {
        guard try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'cloudsync_payload_fragments'") == 1 else { return 0 }
        return try db.integer("SELECT count(*) FROM cloudsync_payload_fragments") ?? -1
    }

    /// The fragment rows of a value `text` of table t's row `id`, cut into pieces of `size`.
    static func fragments(of text: String, id: String = "big", size: Int, site: [UInt8] = Array(repeating: 7, count: 16), colVersion: Int64 = 1, dbVersion: Int64 = 5, seq: Int64 = 0) throws -> [Change] {
        var writer = ByteWriter()
        writer.format = .v2
        writer.append(.string(text))
        let encoded = writer.bytes
        let checksum = FNV1a.hash(encoded)
        let pk = try PrimaryKeyCodec.encode([.string(id)])
        let id = FragmentDescriptor.valueID(table: "t", pk: pk, column: "v", siteID: site, colVersion: colVersion, dbVersion: dbVersion, causalLength: 1, seq: seq, checksum: checksum, totalSize: encoded.count)
        let hexSum = String(checksum, radix: 16)
        let paddedSum = String(repeating: "0", count: 16 - hexSum.count) + hexSum
        let pieces = stride(from: 0, to: encoded.count, by: size).map { Array(encoded[$0..<min($0 + size, encoded.count)]) }
        return pieces.enumerated().map { index, piece in
            Change(table: "t", pk: pk, column: "\(FragmentDescriptor.prefix):\(id):\(paddedSum):\(index):\(pieces.count):\(encoded.count):v",
                   value: .blob(piece), colVersion: colVersion, dbVersion: dbVersion, siteID: site, causalLength: 1, seq: seq)
        }
    }

    /// A version-3 payload of `rows` (the v2 body encoding, version byte 3).
    static func payload(_ rows: [Change]) -> [UInt8] {
        var builder = PayloadBuilder(format: .v2)
        for row in rows { builder.append(row) }
        var bytes = builder.finish(schemaHash: 1, libraryVersion: (1, 1, 4))
        bytes[4] = 3
        return bytes
    }

    @Test func descriptorsParseAndRefuse() throws {
        let id = String(repeating: "a", count: 32), sum = String(repeating: "0", count: 15) + "f"
        let parsed = try #require(try FragmentDescriptor(parsing: "__cloudsync_frag_v1__:\(id):\(sum):1:3:300:col:with:colons"))
        #expect(parsed.valueID == id && parsed.checksum == 15 && parsed.partIndex == 1 && parsed.partCount == 3)
        #expect(parsed.totalSize == 300 && parsed.column == "col:with:colons")
        #expect(try FragmentDescriptor(parsing: "title") == nil)
        for bad in ["\(id.dropLast()):\(sum):0:1:5:c", "\(id.uppercased()):\(sum):0:1:5:c", "\(id):\(sum.dropLast()):0:1:5:c",
                    "\(id):\(sum):3:3:5:c", "\(id):\(sum):0:1:5:", "\(id):\(sum):-1:1:5:c", "\(id):\(sum):0:1:0:c", "\(id):\(sum):0:1"] {
            #expect(throws: CloudSyncError.self, "\(bad)") { try FragmentDescriptor(parsing: "__cloudsync_frag_v1__:" + bad) }
        }
    }

    @Test func theConstructedVectorReassembles() throws {
        let payload = try #require(Hex.decode(Self.constructed()["payload_hex"] as! String))
        let (header, rows) = try PayloadDecoder.decode(payload)
        #expect(header.version == 3 && rows.count == 3)
        let descriptor = try #require(try FragmentDescriptor(parsing: rows[0].column))
        #expect(descriptor.valueID == Self.constructed()["value_id"] as? String)
        #expect(FragmentDescriptor.valueID(table: rows[0].table, pk: rows[0].pk, column: "v", siteID: rows[0].siteID, colVersion: rows[0].colVersion, dbVersion: rows[0].dbVersion, causalLength: rows[0].causalLength, seq: rows[0].seq, checksum: descriptor.checksum, totalSize: descriptor.totalSize) == descriptor.valueID)

        let db = try replica()
        #expect(try db.apply(payload) == 3)
        #expect(try db.rows("SELECT id, v FROM t") == [[.string("big"), .string(Self.expectedText)]])
        #expect(try staged(db) == 0)
        // Again: nothing changes.
        let feed = try db.feed()
        try db.apply(payload)
        #expect(try db.feed() == feed)
    }

    @Test("pieces arrive in any order, across payloads, with duplicates", arguments: 0..<8)
    func anyOrder(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let pieces = try Self.fragments(of: Self.expectedText, size: Int.random(in: 100...1200, using: &random))
        var deliveries = pieces.map { [$0] }
        deliveries.append([pieces.randomElement(using: &random)!])
        deliveries.shuffle(using: &random)
        let db = try replica()
        for (index, delivery) in deliveries.enumerated() {
            try db.apply(Self.payload(delivery))
            let complete = Set(deliveries[...index].flatMap { $0.map(\.column) }).count == pieces.count
            #expect(try db.integer("SELECT count(*) FROM t") == (complete ? 1 : 0))
        }
        #expect(try db.rows("SELECT v FROM t") == [[.string(Self.expectedText)]])
        // Only a duplicate arriving after the value was complete stays staged (until the
        // cleanup of abandoned groups): merging it again would change nothing anyway.
        let completedAt = deliveries.indices.first { Set(deliveries[...$0].flatMap { $0.map(\.column) }).count == pieces.count }!
        #expect(try staged(db) == Int64(Set(deliveries[(completedAt + 1)...].flatMap { $0.map(\.column) }).count))
    }

    @Test func badGroupsAreRefusedAndChangeNothing() throws {
        let db = try replica()
        let pieces = try Self.fragments(of: Self.expectedText, size: 1000)
        try db.apply(Self.payload([pieces[0]]))
        #expect(try staged(db) == 1)

        // A piece whose bytes were changed: the group's checksum fails at completion.
        var damaged = pieces
        damaged[1].value = .blob(Array(repeating: 0x41, count: 1000))
        #expect(throws: CloudSyncError.self) { try db.context.applyPayload(Self.payload(Array(damaged[1...]))) }
        // A piece whose change fields do not match its value id.
        var forged = pieces[1]
        forged.colVersion = 9
        #expect(throws: CloudSyncError.self) { try db.context.applyPayload(Self.payload([forged])) }
        // A version-3 payload with an ordinary row.
        var ordinary = pieces[1]
        ordinary.column = "v"
        #expect(throws: CloudSyncError.self) { try db.context.applyPayload(Self.payload([ordinary])) }
        // A value for a table this database does not synchronize.
        let stranger = try Self.fragments(of: "x", size: 1).map { change -> Change in var c = change; c.table = "nope"; return c }
        #expect(throws: CloudSyncError.self) { try db.context.applyPayload(Self.payload(stranger)) }
        #expect(try staged(db) == 1)
        #expect(try db.integer("SELECT count(*) FROM t") == 0)
        // The right pieces still complete the value.
        try db.apply(Self.payload(Array(pieces[1...])))
        #expect(try db.rows("SELECT v FROM t") == [[.string(Self.expectedText)]])
    }

    @Test func abandonedGroupsAreDroppedAfterADay() throws {
        let db = try replica()
        let old = try Self.fragments(of: Self.expectedText, id: "old", size: 1000)
        try db.apply(Self.payload([old[0]]))
        try db.execute("UPDATE cloudsync_payload_fragments SET created_at = created_at - 90000")
        let fresh = try Self.fragments(of: "small", id: "new", size: 2)
        try db.apply(Self.payload([fresh[0]]))
        #expect(try db.rows("SELECT DISTINCT cloudsync_pk_decode(pk, 1) FROM cloudsync_payload_fragments") == [[.string("new")]])
    }

    @Test func everyDamagedFragmentPayloadIsRefused() throws {
        let payload = Self.payload(try Self.fragments(of: "a value in two pieces", size: 12))
        let db = try replica()
        for bit in (PayloadHeader.size * 8)..<(payload.count * 8) {
            var damaged = payload
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: CloudSyncError.self, "bit \(bit)") { try db.context.applyPayload(damaged) }
        }
        #expect(try staged(db) == 0)
        #expect(try db.apply(payload) == 2)
        #expect(try db.rows("SELECT v FROM t") == [[.string("a value in two pieces")]])
    }
}
