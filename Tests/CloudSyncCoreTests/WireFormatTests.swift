import CloudSyncTestSupport
import Testing
@testable import CloudSyncCore

@Suite("Wire format vectors")
struct WireFormatTests {
    @Test("every value_encoding vector encodes byte-exactly and decodes back")
    func valueEncodingVectors() throws {
        #expect(WireVectors.valueEncodings.count == 31)
        for vector in WireVectors.valueEncodings {
            let encoded = try PrimaryKeyCodec.encode(vector.values)
            if let hex = vector.hex {
                #expect(Hex.encode(encoded) == hex.lowercased(), "\(vector.values)")
                let decoded = try PrimaryKeyCodec.decode(Hex.decode(hex)!)
                #expect(decoded == vector.values)
            } else {
                let prefix = try #require(vector.hexPrefix).lowercased()
                #expect(encoded.count == vector.hexLength)
                #expect(Hex.encode(encoded).hasPrefix(prefix))
                #expect(try PrimaryKeyCodec.decode(encoded) == vector.values)
            }
        }
    }

    @Test("every schema_hash vector hashes to its expected value")
    func schemaHashVectors() {
        #expect(WireVectors.schemaHashes.count == 5)
        for vector in WireVectors.schemaHashes {
            let lowered = vector.createStatements.joined(separator: ",").lowercased()
            #expect(SchemaHash.hash(vector.hashedText) == vector.hashUInt64, "\(vector.hashedText)")
            #expect(SchemaHash.signed(SchemaHash.hash(vector.hashedText)) == vector.hashInt64)
            // SQLite stores the statement without a trailing ';', which the hash drops anyway.
            #expect(SchemaHash.hash(lowered) == vector.hashUInt64, "\(lowered)")
        }
    }

    @Test("schema hash normalization follows the rules of §5")
    func schemaHashNormalization() {
        func norm(_ text: String) -> String {
            String(decoding: SchemaHash.normalized(Array(text.utf8)), as: UTF8.self)
        }
        #expect(norm("create  table t ( a ,b );") == "create table t( a,b)")
        // Tabs and newlines are not spaces: rule 4 drops them outright.
        #expect(norm("table\tt\nx") == "tabletx")
        #expect(norm("  x") == "x")
        #expect(norm("a -- c\nb") == "a b")
        #expect(norm("a/* c */b") == "ab")
        #expect(norm("'--' \"/*\" 'it''s' \"a\"\"b\"") == "'--' \"/*\" 'it's' \"a\"b\"")
        #expect(norm("'a\"b' \"c'd\"") == "'a\"b' \"c'd\"")
        #expect(norm("A\u{e9}B 'X\u{e9}'") == "ab 'X\u{e9}'")
        #expect(norm("a  \n\t ,b   ") == "a,b")
        #expect(norm("a;b") == "ab")
        #expect(norm("a ;") == "a")
        #expect(SchemaHash.fnv1a([]) == 0xcbf2_9ce4_8422_2325)
        #expect(SchemaHash.fnv1a(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
    }

    @Test("each payload vector's schema hashes to its header's schema_hash")
    func payloadSchemaHashes() {
        for vector in WireVectors.payloads {
            let lowered = vector.schema.joined(separator: ",").lowercased()
            #expect(SchemaHash.hash(lowered) == vector.schemaHash, "\(vector.name)")
        }
    }

    @Test("every payload vector decodes to its header and changes")
    func decodePayloadVectors() throws {
        #expect(WireVectors.payloads.count == 6)
        for vector in WireVectors.payloads {
            let (header, changes) = try PayloadDecoder.decode(vector.payload)
            #expect(header.version == vector.version)
            #expect(header.libraryVersion == vector.libraryVersion)
            #expect(header.expandedSize == vector.expandedSize)
            #expect(header.columnCount == vector.ncols)
            #expect(header.rowCount == vector.nrows)
            #expect(header.schemaHash == vector.schemaHash)
            #expect(Array(vector.payload[26..<32]) == vector.reserved)
            #expect(changes == vector.changes, "\(vector.name)")
            // Re-encoding the parsed header gives the original 32 bytes.
            #expect(header.encoded() == Array(vector.payload[0..<32]))
            // The reference block decompresses to the documented body.
            let body = try LZ4Block.decompress(vector.payload[32...], expandedSize: Int(vector.expandedSize))
            #expect(body == vector.body)
        }
    }

    @Test("building each payload vector's changes reproduces its body and decodes back")
    func buildPayloadVectors() throws {
        for vector in WireVectors.payloads {
            var builder = PayloadBuilder()
            for change in vector.changes { builder.append(change) }
            #expect(builder.rowCount == vector.changes.count)
            #expect(builder.body.bytes == vector.body, "\(vector.name)")

            let payload = builder.finish(schemaHash: vector.schemaHash, libraryVersion: (1, 2, 3))
            let header = try PayloadHeader(parsing: payload)
            #expect(header.libraryVersion == (1, 2, 3))
            #expect(header.columnCount == 9)
            #expect(header.rowCount == vector.nrows)
            #expect(header.schemaHash == vector.schemaHash)
            #expect(Array(payload[26..<32]) == [0, 0, 0, 0, 0, 0])
            if header.expandedSize != 0 {
                #expect(Int(header.expandedSize) == vector.body.count)
                #expect(payload.count - 32 < vector.body.count)
                let body = try LZ4Block.decompress(payload[32...], expandedSize: Int(header.expandedSize))
                #expect(body == vector.body)
            } else {
                #expect(Array(payload[32...]) == vector.body)
            }
            let decoded = try PayloadDecoder.decode(payload)
            #expect(decoded.header == header)
            #expect(decoded.changes == vector.changes)
        }
        // The large vector compresses well; ours must be compressed too.
        let large = try #require(WireVectors.payloads.first { $0.name == "large_compressible" })
        var builder = PayloadBuilder()
        for change in large.changes { builder.append(change) }
        let payload = builder.finish(schemaHash: 1, libraryVersion: (0, 0, 1))
        #expect(try PayloadHeader(parsing: payload).expandedSize == UInt32(large.body.count))
        #expect(payload.count < large.body.count / 2)
    }

    @Test("rows written straight into the body with endRow() match append(_:)")
    func endRowPath() throws {
        let vector = WireVectors.payloads[1]
        var builder = PayloadBuilder(capacity: 1024)
        for change in vector.changes {
            builder.body.appendText(change.table)
            builder.body.appendBlob(change.pk)
            var column = Array(change.column.utf8)
            column.withUnsafeBytes { builder.body.appendText($0) }
            builder.body.append(change.value)
            builder.body.appendInteger(change.colVersion)
            builder.body.appendInteger(change.dbVersion)
            change.siteID.withUnsafeBytes { builder.body.appendBlob($0) }
            builder.body.appendInteger(change.causalLength)
            builder.body.appendInteger(change.seq)
            builder.endRow()
            column.removeAll()
        }
        #expect(builder.body.bytes == vector.body)
        let decoded = try PayloadDecoder.decode(builder.finish(schemaHash: 7, libraryVersion: (0, 1, 0)))
        #expect(decoded.changes == vector.changes)
    }

    @Test("a tiny payload that does not compress is sent raw with expanded_size 0")
    func rawPath() throws {
        let change = Change(
            table: "t", pk: try PrimaryKeyCodec.encode([.integer(1)]), column: "c", value: .real(-0.5),
            colVersion: 1, dbVersion: 2, siteID: Array(0..<16), causalLength: 1, seq: 0)
        var builder = PayloadBuilder()
        builder.append(change)
        let payload = builder.finish(schemaHash: 0xFFFF_FFFF_FFFF_FFFF, libraryVersion: (9, 8, 7))
        let decoded = try PayloadDecoder.decode(payload)
        #expect(decoded.header.expandedSize == 0)
        #expect(decoded.header.schemaHash == 0xFFFF_FFFF_FFFF_FFFF)
        #expect(Array(payload[32...]) == builder.body.bytes)
        #expect(decoded.changes == [change])

        // No rows at all: an empty raw body.
        let empty = PayloadBuilder().finish(schemaHash: 5, libraryVersion: (0, 0, 0))
        #expect(empty.count == 32)
        let decodedEmpty = try PayloadDecoder.decode(empty)
        #expect(decodedEmpty.changes.isEmpty)
        #expect(decodedEmpty.header.rowCount == 0)
    }

    @Test("a body at LZ4's best compression ratio is within the expansion bound")
    func highlyCompressible() throws {
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        let block = LZ4Block.compress(zeros)
        #expect(zeros.count <= block.count * LZ4Block.maxExpansionRatio)
        let change = Change(
            table: "t", pk: [0x01, 0x09, 0x01], column: "b", value: .blob(zeros), colVersion: 1, dbVersion: 1,
            siteID: Array(repeating: 1, count: 16), causalLength: 1, seq: 0)
        var builder = PayloadBuilder()
        builder.append(change)
        let payload = builder.finish(schemaHash: 1, libraryVersion: (0, 1, 0))
        #expect(payload.count < 32 + zeros.count / 200)
        #expect(try PayloadDecoder.decode(payload).changes == [change])
    }

    @Test("the header parses and encodes every field big-endian")
    func headerLayout() throws {
        let header = PayloadHeader(
            libraryVersion: (1, 2, 3), expandedSize: 0x0102_0304, columnCount: 0x0506, rowCount: 0x0708_090A,
            schemaHash: 0x0B0C_0D0E_0F10_1112)
        let bytes = header.encoded()
        #expect(Hex.encode(bytes) == "434c5359" + "01" + "010203" + "01020304" + "0506" + "0708090a"
            + "0b0c0d0e0f101112" + "000000000000")
        // Reserved bytes are ignored when read.
        let parsed = try PayloadHeader(parsing: WirePayloads.patched(bytes, at: 26, [1, 2, 3, 4, 5, 6]))
        #expect(parsed == header)
    }

    @Test("a change-heavy round trip of many rows")
    func manyRows() throws {
        var rng = SeededGenerator(seed: 99)
        var changes: [Change] = []
        let site = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for i in 0..<5_000 {
            let value: SQLValue =
                switch i % 5 {
                case 0: .integer(Int64.random(in: .min ... .max, using: &rng))
                case 1: .real(Double(bitPattern: rng.next()))
                case 2: .string("row \(i) \u{1F600}")
                case 3: .blob((0..<(i % 40)).map { UInt8(truncatingIfNeeded: $0 * i) })
                default: .null
                }
            changes.append(
                Change(
                    table: i % 3 == 0 ? "a" : "b", pk: try PrimaryKeyCodec.encode([.integer(Int64(i / 4)), .string("k")]),
                    column: i % 7 == 0 ? Change.sentinelColumn : "c\(i % 4)", value: value, colVersion: Int64(i),
                    dbVersion: Int64(i / 10), siteID: site, causalLength: 1, seq: Int64(i % 10)))
        }
        var builder = PayloadBuilder()
        for change in changes { builder.append(change) }
        let decoded = try PayloadDecoder.decode(builder.finish(schemaHash: 3, libraryVersion: (0, 1, 0))).changes
        #expect(decoded.count == changes.count)
        // Compare bit patterns so that NaN reals compare equal to themselves.
        for (a, b) in zip(decoded, changes) {
            if case .real(let x) = a.value, case .real(let y) = b.value {
                #expect(x.bitPattern == y.bitPattern)
                var a = a, b = b
                a.value = .null
                b.value = .null
                #expect(a == b)
            } else {
                #expect(a == b)
            }
        }
    }
}
