import CloudSyncTestSupport
import Testing
@testable import CloudSyncCore

@Suite("Payload decoder: bad input")
struct PayloadBadInputTests {
    typealias P = WirePayloads

    private func expectError(
        _ payload: [UInt8], _ code: CloudSyncError.Code, _ fragment: String, limits: PayloadLimits = .default,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = P.decodeError(payload, limits: limits) else {
            Issue.record("payload should be rejected (\(fragment))", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }

    /// Each vector as an uncompressed payload, so that corruption reaches the row parser.
    private var rawVectors: [[UInt8]] {
        WireVectors.payloads.map { P.raw(body: $0.body, nrows: $0.nrows) }
    }

    @Test("raw variants of the vectors decode to the same changes")
    func rawVariants() throws {
        for (vector, payload) in zip(WireVectors.payloads, rawVectors) {
            #expect(try PayloadDecoder.decode(payload).changes == vector.changes)
        }
    }

    @Test("every truncation of every vector payload is rejected")
    func truncations() {
        // Every length of the reference payloads (compressed) ...
        for payload in WireVectors.payloads.map(\.payload) {
            for length in 0..<payload.count {
                let error = P.decodeError(Array(payload[0..<length]))
                #expect(error?.code == .malformedPayload, "length \(length) of \(payload.count)")
            }
        }
        // ... and of their raw variants, which reach the row parser (for the 31 KB one, every
        // 13th length and the last 300, to keep the debug-build test fast).
        for payload in rawVectors {
            let lengths = payload.count < 1_000
                ? Array(0..<payload.count)
                : Array(stride(from: 0, to: payload.count, by: 61)) + Array((payload.count - 100)..<payload.count)
            for length in lengths {
                let error = P.decodeError(Array(payload[0..<length]))
                #expect(error?.code == .malformedPayload, "length \(length) of \(payload.count)")
            }
        }
    }

    @Test("2,000 random single-bit flips either throw CloudSyncError or decode consistently")
    func bitFlips() {
        var rng = SeededGenerator(seed: 0x5EED)
        let payloads = WireVectors.payloads.map(\.payload) + rawVectors
        var rejected = 0
        for _ in 0..<2_000 {
            var payload = payloads[Int.random(in: 0..<payloads.count, using: &rng)]
            let bit = Int.random(in: 0..<(payload.count * 8), using: &rng)
            payload[bit / 8] ^= 1 << UInt8(bit % 8)
            // A flip in the signature, version or ncols is always caught.
            let mustFail = bit / 8 < 5 || bit == 13 * 8 || bit == 13 * 8 + 3  // ncols 9 -> 8 or 1
            do {
                let (header, changes) = try PayloadDecoder.decode(payload)
                #expect(changes.count == Int(header.rowCount))
                #expect(changes.allSatisfy { $0.siteID.count == 16 })
                #expect(!mustFail, "flip of bit \(bit) was not caught")
            } catch {
                #expect(error.code == .malformedPayload || error.code == .tooLarge, "\(error.code)")
                rejected += 1
            }
        }
        // Most flips (signature, version, LZ4 stream, lengths...) must be caught.
        #expect(rejected > 600)
    }

    @Test("header errors: short, signature, version, ncols")
    func headerErrors() {
        let good = WireVectors.payloads[0].payload
        expectError([], .malformedPayload, "shorter than the 32-byte header")
        expectError(Array(good[0..<31]), .malformedPayload, "shorter than the 32-byte header")
        expectError(P.patched(good, at: 0, Array("CLSZ".utf8)), .malformedPayload, "signature")
        expectError(P.patched(good, at: 0, [0, 0, 0, 0]), .malformedPayload, "signature")
        // Version 2 is read, but its checksum must match the body (a v1 payload has zeros there).
        expectError(P.patched(good, at: 4, [2]), .malformedPayload, "invalid checksum")
        // Version 3 (fragments) has the checksum too, and exactly nine values per row.
        expectError(P.patched(good, at: 4, [3]), .malformedPayload, "invalid checksum")
        expectError(P.patched(good, at: 4, [4]), .malformedPayload, "version 4")
        expectError(P.patched(good, at: 4, [0]), .malformedPayload, "version 0")
        expectError(P.patched(good, at: 12, [0, 0]), .malformedPayload, "0 values per row")
        expectError(P.patched(good, at: 12, [0, 8]), .malformedPayload, "8 values per row")
    }

    @Test("rows with more than nine values are accepted and the extra values ignored")
    func extraColumns() throws {
        for vector in WireVectors.payloads {
            var reader = ByteReader(vector.body)
            var widened = ByteWriter()
            for _ in 0..<vector.nrows {
                let start = reader.offset
                for _ in 0..<9 { try reader.skipValue() }
                widened.appendRawBytes(Array(vector.body[start..<reader.offset]))
                widened.appendText("extra")
                widened.appendInteger(-3)
            }
            let payload = P.raw(body: widened.bytes, ncols: 11, nrows: vector.nrows)
            #expect(try PayloadDecoder.decode(payload).changes == vector.changes)
            // The extra values are still checked.
            var broken = payload
            broken.removeLast()
            expectError(broken, .malformedPayload, "row \(vector.nrows - 1)")
        }
    }

    @Test("nrows off by one either way is rejected")
    func rowCountMismatch() {
        for vector in WireVectors.payloads {
            for payload in [vector.payload, P.raw(body: vector.body, nrows: vector.nrows)] {
                let nrows = UInt64(vector.nrows)
                expectError(P.patched(payload, at: 14, P.bigEndian(nrows + 1, 4)), .malformedPayload, "ends after")
                expectError(
                    P.patched(payload, at: 14, P.bigEndian(nrows - 1, 4)), .malformedPayload, "after its \(nrows - 1) rows")
            }
        }
        // A body of zero rows that is not empty.
        expectError(P.raw(body: [0x05], nrows: 0), .malformedPayload, "1 bytes after its 0 rows")
    }

    @Test("expanded_size off by one, impossible or over the limit is rejected")
    func expandedSizeErrors() {
        for vector in WireVectors.payloads {
            let size = UInt64(vector.expandedSize)
            expectError(P.patched(vector.payload, at: 8, P.bigEndian(size + 1, 4)), .malformedPayload, "decompress")
            expectError(P.patched(vector.payload, at: 8, P.bigEndian(size - 1, 4)), .malformedPayload, "not the expanded size")
        }
        let good = WireVectors.payloads[0].payload
        // Over the default 512 MiB limit: rejected before anything is allocated.
        expectError(P.patched(good, at: 8, [0xFF, 0xFF, 0xFF, 0xFF]), .tooLarge, "over the limit")
        let small = PayloadLimits(maxPayloadSize: 1 << 20, maxExpandedSize: 100, maxRows: 1000)
        expectError(good, .tooLarge, "expands to 101 bytes, over the limit of 100", limits: small)
        // More than 255 times the compressed size cannot come out of LZ4.
        let compressed = UInt64(good.count - 32)
        expectError(
            P.patched(good, at: 8, P.bigEndian(compressed * 255 + 1, 4)), .malformedPayload, "cannot expand")
        // A compressed header with no body at all.
        expectError(Array(good[0..<32]), .malformedPayload, "cannot expand")
    }

    @Test("payload size and row limits")
    func limits() {
        let vector = WireVectors.payloads[5]
        let tight = PayloadLimits(maxPayloadSize: vector.payload.count - 1, maxExpandedSize: 1 << 20, maxRows: 1000)
        expectError(vector.payload, .tooLarge, "payload is \(vector.payload.count) bytes", limits: tight)
        let fewRows = PayloadLimits(maxPayloadSize: 1 << 20, maxExpandedSize: 1 << 20, maxRows: 299)
        expectError(vector.payload, .tooLarge, "300 rows", limits: fewRows)
        // nrows larger than the body could hold is rejected before decompressing or allocating.
        expectError(P.patched(vector.payload, at: 14, P.bigEndian(5_000_000, 4)), .malformedPayload, "claims")
        expectError(P.raw(body: [0x05, 0x05], nrows: 1), .malformedPayload, "claims 1 rows")
    }

    @Test("rows with values of the wrong type are rejected")
    func wrongTypes() throws {
        let base = WireVectors.payloads[0].changes[0]
        func payload(_ edit: (inout [SQLValue]) -> Void) -> [UInt8] {
            var values: [SQLValue] = [
                .string(base.table), .blob(base.pk), .string(base.column), base.value, .integer(base.colVersion),
                .integer(base.dbVersion), .blob(base.siteID), .integer(base.causalLength), .integer(base.seq),
            ]
            edit(&values)
            var writer = ByteWriter()
            for value in values { writer.append(value) }
            return P.raw(body: writer.bytes, nrows: 1)
        }
        #expect(try PayloadDecoder.decode(payload { _ in }).changes == [base])
        #expect(try PayloadDecoder.decode(payload { $0[3] = .blob([1]) }).changes[0].value == .blob([1]))
        expectError(payload { $0[0] = .integer(1) }, .malformedPayload, "tbl must be TEXT, found INTEGER")
        expectError(payload { $0[0] = .text([0x74, 0xFF]) }, .malformedPayload, "tbl is not valid UTF-8")
        expectError(payload { $0[1] = .string("a") }, .malformedPayload, "pk must be BLOB, found TEXT")
        expectError(payload { $0[1] = .blob([0x01, 0x0B, 0x05]) }, .malformedPayload, "pk is not a valid primary-key blob")
        expectError(payload { $0[1] = .blob([]) }, .malformedPayload, "primary-key blob is empty")
        expectError(payload { $0[1] = .blob([0x01, 0x05, 0x05]) }, .malformedPayload, "after its last value")
        expectError(payload { $0[2] = .null }, .malformedPayload, "col_name must be TEXT, found NULL")
        expectError(payload { $0[2] = .text([0xC3]) }, .malformedPayload, "col_name is not valid UTF-8")
        expectError(payload { $0[4] = .real(1) }, .malformedPayload, "col_version must be INTEGER, found REAL")
        expectError(payload { $0[5] = .string("1") }, .malformedPayload, "db_version must be INTEGER")
        expectError(payload { $0[6] = .blob(Array(base.siteID.dropLast())) }, .malformedPayload, "16 bytes, found 15")
        expectError(payload { $0[6] = .string("x") }, .malformedPayload, "site_id must be BLOB")
        expectError(payload { $0[7] = .null }, .malformedPayload, "cl must be INTEGER")
        expectError(payload { $0[8] = .blob([]) }, .malformedPayload, "seq must be INTEGER")
        // Error messages locate the row.
        expectError(payload { $0[8] = .null }, .malformedPayload, "payload row 0")
    }

    @Test("random garbage is rejected without trapping")
    func garbage() {
        var rng = SeededGenerator(seed: 1234)
        let header = WireVectors.payloads[0].payload[0..<32]
        for i in 0..<3_000 {
            let tail = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let payload: [UInt8]
            switch i % 3 {
            case 0: payload = tail
            case 1: payload = Array(header) + tail  // a compressed header over garbage
            default: payload = P.raw(body: tail, nrows: UInt32.random(in: 0...3, using: &rng))
            }
            if let error = P.decodeError(payload) {
                #expect(error.code == .malformedPayload || error.code == .tooLarge)
            } else {
                // Only a raw payload with an empty body and no rows is plausible here.
                #expect(i % 3 == 2, "garbage decoded: \(Hex.encode(payload))")
            }
        }
    }
}
