/// Reads a payload (wire-format §4) into its header and change rows.
///
/// Everything is checked before the database is touched: header, limits (``PayloadLimits``),
/// decompression to exactly expanded_size, every value's bounds, the number of rows, and each
/// row's types (tbl and col_name TEXT holding valid UTF-8, pk a valid primary-key blob, site_id
/// a 16-byte BLOB, col_version, db_version, cl and seq INTEGER, col_value any type).
///
/// Rows with more than nine values (ncols > 9, from a later writer) are accepted: the extra
/// values are checked and ignored. The schema hash is not checked here; the caller compares
/// ``PayloadHeader/schemaHash`` with the hashes it knows.
package enum PayloadDecoder {
    /// The header and change rows of `payload`.
    ///
    /// - Throws: `.malformedPayload` for an invalid payload and `.tooLarge` when a limit is
    ///   exceeded.
    package static func decode(
        _ payload: [UInt8], limits: PayloadLimits = .default
    ) throws(CloudSyncError) -> (header: PayloadHeader, changes: [Change]) {
        guard payload.count <= limits.maxPayloadSize else {
            throw CloudSyncError(
                .tooLarge, "payload is \(payload.count) bytes, over the limit of \(limits.maxPayloadSize)")
        }
        let header = try PayloadHeader(parsing: payload)
        let ncols = Int(header.columnCount)
        let nrows = Int(header.rowCount)
        guard header.version != 3 || ncols == PayloadBuilder.columnCount else {
            throw malformed("a version-3 (fragment) payload has exactly \(PayloadBuilder.columnCount) values per row, not \(ncols)")
        }
        guard ncols >= PayloadBuilder.columnCount else {
            throw malformed("payload has \(ncols) values per row; at least \(PayloadBuilder.columnCount) are required")
        }
        guard nrows <= limits.maxRows else {
            throw CloudSyncError(.tooLarge, "payload has \(nrows) rows, over the limit of \(limits.maxRows)")
        }

        let wireBody = payload[PayloadHeader.size...]
        if header.version >= 2 {
            let actual = PayloadHeader.checksum(of: wireBody)
            guard actual == header.checksum else {
                throw malformed(
                    "invalid checksum: the header says \(String(header.checksum, radix: 16)) but the body hashes to \(String(actual, radix: 16)); the payload was damaged in transit")
            }
        }
        let body: ArraySlice<UInt8>
        if header.expandedSize == 0 {
            body = wireBody
        } else {
            let expandedSize = Int(header.expandedSize)
            guard expandedSize <= limits.maxExpandedSize else {
                throw CloudSyncError(
                    .tooLarge,
                    "payload body expands to \(expandedSize) bytes, over the limit of \(limits.maxExpandedSize)")
            }
            guard !wireBody.isEmpty, expandedSize <= wireBody.count * LZ4Block.maxExpansionRatio else {
                throw malformed(
                    "a compressed body of \(wireBody.count) bytes cannot expand to \(expandedSize) bytes")
            }
            guard nrows * ncols <= expandedSize else {
                throw malformed("payload claims \(nrows) rows but its body expands to only \(expandedSize) bytes")
            }
            body = try LZ4Block.decompress(wireBody, expandedSize: expandedSize)[...]
        }
        // Every value takes at least one byte.
        guard nrows * ncols <= body.count else {
            throw malformed("payload claims \(nrows) rows but its body is only \(body.count) bytes")
        }
        return (header, try decodeRows(body, nrows: nrows, ncols: ncols, format: header.version >= 2 ? .v2 : .v1))
    }

    // MARK: Rows

    private static func decodeRows(
        _ body: ArraySlice<UInt8>, nrows: Int, ncols: Int, format: PayloadFormat
    ) throws(CloudSyncError) -> [Change] {
        var reader = ByteReader(body)
        reader.format = format
        var changes: [Change] = []
        changes.reserveCapacity(nrows)
        // Rows repeat tables, keys, columns and site ids; reuse the previous copies.
        var tables = NameCache()
        var columns = NameCache()
        var lastPK: [UInt8]? = nil
        var lastSiteID: [UInt8] = []

        for row in 0..<nrows {
            guard !reader.isAtEnd else {
                throw malformed("payload body ends after \(row) of \(nrows) rows")
            }
            do throws(CloudSyncError) {
                let table = try tables.name(try reader.readToken(), in: body, column: "tbl")
                let pkRange = try blob(try reader.readToken(), column: "pk")
                let pk = body[pkRange]
                if lastPK.map({ !pk.elementsEqual($0) }) ?? true {
                    do throws(CloudSyncError) {
                        try PrimaryKeyCodec.validate(pk)
                    } catch {
                        throw malformed("pk is not a valid primary-key blob: \(error.message)")
                    }
                    lastPK = Array(pk)
                }
                let column = try columns.name(try reader.readToken(), in: body, column: "col_name")
                let value = try reader.readValue()
                let colVersion = try reader.readInteger("col_version")
                let dbVersion = try reader.readInteger("db_version")
                let siteID = body[try blob(try reader.readToken(), column: "site_id")]
                guard siteID.count == 16 else {
                    throw malformed("site_id must be 16 bytes, found \(siteID.count)")
                }
                if !siteID.elementsEqual(lastSiteID) { lastSiteID = Array(siteID) }
                let causalLength = try reader.readInteger("cl")
                let seq = try reader.readInteger("seq")
                for _ in PayloadBuilder.columnCount..<ncols {
                    try reader.skipValue()
                }
                changes.append(
                    Change(
                        table: table, pk: lastPK ?? [], column: column, value: value, colVersion: colVersion,
                        dbVersion: dbVersion, siteID: lastSiteID, causalLength: causalLength, seq: seq))
            } catch {
                throw malformed("payload row \(row) (body byte offset \(reader.offset)): \(error.message)")
            }
        }
        guard reader.isAtEnd else {
            throw malformed(
                "payload body has \(reader.remaining) bytes after its \(nrows) rows (body byte offset \(reader.offset))")
        }
        return changes
    }

    private static func blob(_ token: ByteReader.Token, column: String) throws(CloudSyncError) -> Range<Int> {
        guard case .blob(let range) = token else {
            throw malformed("\(column) must be BLOB, found \(token.typeName)")
        }
        return range
    }

    private static func malformed(_ message: String) -> CloudSyncError {
        CloudSyncError(.malformedPayload, message)
    }

    /// The most recent distinct names, so that repeated names are validated and copied once.
    private struct NameCache {
        private var entries: [(bytes: [UInt8], name: String)] = []
        private var next = 0
        private static let capacity = 32

        mutating func name(
            _ token: ByteReader.Token, in body: ArraySlice<UInt8>, column: String
        ) throws(CloudSyncError) -> String {
            guard case .text(let range) = token else {
                throw malformed("\(column) must be TEXT, found \(token.typeName)")
            }
            let bytes = body[range]
            for entry in entries where entry.bytes.elementsEqual(bytes) {
                return entry.name
            }
            guard let name = String(validUTF8: bytes) else {
                throw malformed("\(column) is not valid UTF-8")
            }
            if entries.count < Self.capacity {
                entries.append((Array(bytes), name))
            } else {
                entries[next] = (Array(bytes), name)
                next = (next + 1) % Self.capacity
            }
            return name
        }
    }
}
