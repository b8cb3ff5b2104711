import CloudSyncTestSupport
import Testing
@testable import CloudSyncCore

/// Bad input is refused with a clear error and leaves the database exactly as it was.
@Suite("Bad input")
struct BadInputTests {
    /// Everything a merge could change: rows, clocks, known sites.
    func state(_ db: TestDatabase) throws -> [[SQLValue]] {
        try db.snapshot("todo") + db.feed() + db.rows("SELECT rowid, site_id FROM cloudsync_site_id ORDER BY rowid")
    }

    func setUp() throws -> (origin: TestDatabase, target: TestDatabase, payload: [UInt8]) {
        let origin = try todoDatabase(), target = try todoDatabase()
        try origin.execute("INSERT INTO todo(id, title) VALUES ('a', 'one'), ('b', 'two'); DELETE FROM todo WHERE id = 'b'")
        try target.execute("INSERT INTO todo(id, title) VALUES ('t', 'mine')")
        return (origin, target, try #require(try origin.payload()))
    }

    func expectRefused(_ target: TestDatabase, _ payload: [UInt8], _ code: CloudSyncError.Code? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try state(target)
        do {
            try target.context.applyPayload(payload)
            Issue.record("payload was accepted", sourceLocation: sourceLocation)
        } catch {
            if let code { #expect(error.code == code, sourceLocation: sourceLocation) }
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        }
        #expect(try state(target) == before, sourceLocation: sourceLocation)
    }

    @Test func truncatedPayloadsChangeNothing() throws {
        let (_, target, payload) = try setUp()
        for length in 0..<payload.count {
            try expectRefused(target, Array(payload.prefix(length)))
        }
    }

    /// A v1 payload has no checksum, so a flipped bit inside a value can still decode. Such a
    /// payload is refused with nothing changed, or it is a valid payload in its own right and
    /// then holds to what any valid payload does: it decodes, touches only the rows it names,
    /// creates no row it does not name, and applying it again changes nothing.
    @Test func corruptedAndRandomPayloadsChangeNothingOrApplyWhole() throws {
        let (_, target, payload) = try setUp()
        var random = SeededGenerator(seed: 7)
        var accepted = 0
        for _ in 0..<400 {
            var corrupt = payload
            let bit = Int.random(in: 0..<(corrupt.count * 8), using: &random)
            corrupt[bit / 8] ^= 1 << UInt8(bit % 8)
            let before = try state(target)
            let rowsBefore = try target.snapshot("todo")
            do {
                try target.context.applyPayload(corrupt)
            } catch {
                #expect(try state(target) == before)
                continue
            }
            accepted += 1
            let decoded = try PayloadDecoder.decode(corrupt)
            let named = Set(try decoded.changes.filter { $0.table == "todo" }.map { try PrimaryKeyCodec.decode($0.pk) })
            let rowsAfter = try target.snapshot("todo")
            // Rows the payload does not name are exactly as they were.
            #expect(rowsBefore.filter { !named.contains([$0[0]]) } == rowsAfter.filter { !named.contains([$0[0]]) })
            // Every row is one that was there or one the payload names.
            for row in rowsAfter where !rowsBefore.contains(row) {
                #expect(named.contains([row[0]]), "row \(row) appeared without being named by the payload")
            }
            let afterFirst = try state(target)
            try target.context.applyPayload(corrupt)
            #expect(try state(target) == afterFirst, "applying an accepted payload twice changed the database")
        }
        // The corruptions refused must be most of them, or the decoder checks too little.
        #expect(accepted < 200)
        for size in [1, 31, 32, 33, 100, 5000] {
            let garbage = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            try expectRefused(target, garbage)
        }
    }

    @Test func unknownSchemaIsRefused() throws {
        let (_, target, payload) = try setUp()
        var other = payload
        other[20] ^= 0xFF // schema hash bytes 18..<26
        try expectRefused(target, other, .schemaMismatch)
    }

    @Test func unknownTablesAndColumnsAreRefusedBeforeAnythingIsWritten() throws {
        let (origin, target, _) = try setUp()
        let hash = try target.context.currentSchemaHash()
        let site = try origin.context.siteID()
        func payload(_ changes: [Change]) -> [UInt8] {
            var builder = PayloadBuilder()
            for change in changes { builder.append(change) }
            return builder.finish(schemaHash: hash, libraryVersion: SyncContext.version)
        }
        let good = Change(table: "todo", pk: try PrimaryKeyCodec.encode([.string("new")]), column: "title", value: .string("x"),
                          colVersion: 1, dbVersion: 1, siteID: site, causalLength: 1, seq: 0)
        var unknownTable = good
        unknownTable.table = "nope"
        var unknownColumn = good
        unknownColumn.column = "nope"
        var badKey = good
        badKey.pk = [2, 0x0B, 1, 0x61] // claims two values, holds one
        var wrongArity = good
        wrongArity.pk = try PrimaryKeyCodec.encode([.string("a"), .integer(1)])
        try expectRefused(target, payload([good, unknownTable]), .unknownTable)
        try expectRefused(target, payload([good, unknownColumn]), .unknownColumn)
        try expectRefused(target, payload([good, badKey]))
        try expectRefused(target, payload([good, wrongArity]))
    }

    @Test func oversizedPayloadsAreRefused() throws {
        let (_, target, payload) = try setUp()
        target.context.payloadLimits.maxExpandedSize = 64
        try expectRefused(target, payload, .tooLarge)
    }

    @Test func wrongArgumentTypesAreErrorsNotCrashes() throws {
        let db = try todoDatabase()
        for sql in [
            "SELECT cloudsync_payload_decode('text')",
            "SELECT cloudsync_payload_decode(NULL)",
            "SELECT cloudsync_payload_encode(1, 2, 3, 4, 5, 6, 7, 8, 9)",
            "SELECT cloudsync_pk_encode()",
            "SELECT cloudsync_init(NULL)",
            "SELECT cloudsync_set_table('todo', 'algo', 'gos')",
            "INSERT INTO cloudsync_changes VALUES ('todo', 'not a blob', 'title', 'x', 1, 1, randomblob(16), 1, 0)",
            "INSERT INTO cloudsync_changes VALUES ('todo', cloudsync_pk_encode('k'), 'title', 'x', 1, 1, x'00', 1, 0)",
            "INSERT INTO cloudsync_changes VALUES ('todo', cloudsync_pk_encode('k'), 'title', 'x', 'one', 1, randomblob(16), 1, 0)",
        ] {
            #expect(throws: CloudSyncError.self, "\(sql)") { try db.execute(sql) }
        }
        #expect(try db.snapshot("todo").isEmpty)
    }
}
