#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Version-3 payloads: a value too large for one payload arrives as fragment rows, possibly
/// spread over several payloads and in any order (wire-format §8). Pieces are staged in
/// `cloudsync_payload_fragments` (the table 1.1.x uses), so memory holds one value at most,
/// when its last piece arrives; then the value is checked, merged like any change, and its
/// pieces dropped.
extension SyncContext {
    /// Incomplete groups older than this are dropped (wire-format §8: 24 hours).
    static let abandonedFragmentAge: Int64 = 24 * 60 * 60

    /// Stages the fragment rows of one version-3 payload and merges every value they complete,
    /// all in one savepoint: a bad piece, a disagreeing group or a value that fails its checks
    /// leaves the database as it was.
    func applyFragments(_ rows: [Change]) throws(CloudSyncError) -> MergeReport {
        try connection.withSavepoint("cloudsync_fragments") { () throws(CloudSyncError) in
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS cloudsync_payload_fragments (
                  value_id TEXT NOT NULL, part_index INTEGER NOT NULL, part_count INTEGER NOT NULL,
                  total_size INTEGER NOT NULL, checksum TEXT NOT NULL, created_at INTEGER NOT NULL,
                  tbl TEXT NOT NULL, pk BLOB NOT NULL, col_name TEXT NOT NULL, col_version INTEGER NOT NULL,
                  db_version INTEGER NOT NULL, site_id BLOB NOT NULL, cl INTEGER NOT NULL, seq INTEGER NOT NULL,
                  fragment BLOB NOT NULL, PRIMARY KEY (value_id, part_index)) WITHOUT ROWID
                """)
            let now = Int64(time(nil))
            try connection.run("DELETE FROM cloudsync_payload_fragments WHERE created_at < ?1", [.integer(now - Self.abandonedFragmentAge)])
            var touched: [String] = []
            for row in rows {
                let descriptor = try Self.fragment(row)
                try connection.run(
                    "INSERT OR REPLACE INTO cloudsync_payload_fragments VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    [.string(descriptor.valueID), .integer(Int64(descriptor.partIndex)), .integer(Int64(descriptor.partCount)),
                     .integer(Int64(descriptor.totalSize)), .string(String(descriptor.checksum, radix: 16)), .integer(now),
                     .string(row.table), .blob(row.pk), .string(descriptor.column), .integer(row.colVersion),
                     .integer(row.dbVersion), .blob(row.siteID), .integer(row.causalLength), .integer(row.seq), row.value])
                if !touched.contains(descriptor.valueID) { touched.append(descriptor.valueID) }
            }
            var report = MergeReport(changes: rows.count)
            report.movesCursor = false
            for valueID in touched {
                guard let change = try completedValue(valueID) else { continue }
                let merged = try merge([change])
                for table in merged.tables where !report.tables.contains(table) { report.tables.append(table) }
                report.failedRows += merged.failedRows
                try connection.run("DELETE FROM cloudsync_payload_fragments WHERE value_id = ?1", [.string(valueID)])
            }
            return report
        }
    }

    /// The descriptor of a fragment row, after checking the row against it.
    private static func fragment(_ row: Change) throws(CloudSyncError) -> FragmentDescriptor {
        guard let descriptor = try FragmentDescriptor(parsing: row.column) else {
            throw CloudSyncError(.malformedPayload, "a version-3 payload holds only fragment rows; column '\(row.column.prefix(80))' of table \(row.table) is not a fragment descriptor")
        }
        guard case .blob(let piece) = row.value, !piece.isEmpty else {
            throw CloudSyncError(.malformedPayload, "fragment \(descriptor.partIndex) of value \(descriptor.valueID) must be a non-empty BLOB")
        }
        let expected = FragmentDescriptor.valueID(
            table: row.table, pk: row.pk, column: descriptor.column, siteID: row.siteID, colVersion: row.colVersion,
            dbVersion: row.dbVersion, causalLength: row.causalLength, seq: row.seq,
            checksum: descriptor.checksum, totalSize: descriptor.totalSize)
        guard expected == descriptor.valueID else {
            throw CloudSyncError(.malformedPayload, "fragment \(descriptor.partIndex) names value id \(descriptor.valueID), but its change gives \(expected)")
        }
        return descriptor
    }

    /// The change a group of staged pieces makes up, once every piece is there; nil while
    /// pieces are missing.
    private func completedValue(_ valueID: String) throws(CloudSyncError) -> Change? {
        let pieces = try connection.rows("""
            SELECT part_index, part_count, total_size, checksum, tbl, pk, col_name, col_version, db_version, site_id, cl, seq, fragment
              FROM cloudsync_payload_fragments WHERE value_id = ?1 ORDER BY part_index
            """, [.string(valueID)])
        guard let first = pieces.first else { return nil }
        // Everything but the index and the bytes must agree across the group.
        for piece in pieces where Array(piece[1...11]) != Array(first[1...11]) {
            throw CloudSyncError(.malformedPayload, "the fragments of value \(valueID) disagree (piece \(piece[0]) differs from piece \(first[0]))")
        }
        guard let count = first[1].integerValue, pieces.count == Int(count) else { return nil }
        var encoded: [UInt8] = []
        for piece in pieces {
            guard case .blob(let bytes) = piece[12] else { return nil }
            encoded += bytes
        }
        guard encoded.count == Int(first[2].integerValue ?? -1) else {
            throw CloudSyncError(.malformedPayload, "the fragments of value \(valueID) make \(encoded.count) bytes, not the announced \(first[2])")
        }
        guard String(FNV1a.hash(encoded), radix: 16) == first[3].stringValue else {
            throw CloudSyncError(.malformedPayload, "the fragments of value \(valueID) do not match their checksum; the value was damaged")
        }
        var reader = ByteReader(encoded)
        reader.format = .v2
        let value = try reader.readValue()
        guard reader.isAtEnd else {
            throw CloudSyncError(.malformedPayload, "the fragments of value \(valueID) hold more than one value")
        }
        guard let table = first[4].stringValue, case .blob(let pk) = first[5], let column = first[6].stringValue,
              let colVersion = first[7].integerValue, let dbVersion = first[8].integerValue, case .blob(let site) = first[9],
              let causalLength = first[10].integerValue, let seq = first[11].integerValue
        else { throw CloudSyncError(.malformedPayload, "the staged fragments of value \(valueID) are incomplete") }
        return Change(table: table, pk: pk, column: column, value: value, colVersion: colVersion,
                      dbVersion: dbVersion, siteID: site, causalLength: causalLength, seq: seq)
    }
}
