/// Builds a payload (wire-format §4) from change rows.
///
/// Either ``append(_:)`` whole ``Change`` values, or write the nine values of a row straight
/// into ``body`` (tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq, as in
/// wire-format §3) and call ``endRow()``; then call ``finish(schemaHash:libraryVersion:)``.
package struct PayloadBuilder {
    /// The number of values in each row written by this builder.
    package static let columnCount = 9

    /// The uncompressed body: the rows written so far.
    package var body: ByteWriter
    /// The number of rows written so far.
    package private(set) var rowCount: Int

    /// An empty builder for a payload of `format`, whose body has room for `capacity` bytes.
    package init(capacity: Int = 0, format: PayloadFormat = .v1) {
        body = ByteWriter(capacity: capacity)
        body.format = format
        rowCount = 0
    }

    /// Appends one change row.
    package mutating func append(_ change: Change) {
        body.appendText(change.table)
        body.appendBlob(change.pk)
        body.appendText(change.column)
        body.append(change.value)
        body.appendInteger(change.colVersion)
        body.appendInteger(change.dbVersion)
        body.appendBlob(change.siteID)
        body.appendInteger(change.causalLength)
        body.appendInteger(change.seq)
        rowCount += 1
    }

    /// Counts one row whose nine values the caller wrote into ``body``.
    package mutating func endRow() {
        rowCount += 1
    }

    /// The payload: the header followed by the body, LZ4-compressed only when the compressed
    /// block is smaller than the raw body (otherwise the header's expanded_size is 0).
    ///
    /// The row count must fit the header's 32-bit nrows field. The header's version is the
    /// builder's format: 1, or 2 with a checksum of the body.
    package func finish(schemaHash: UInt64, libraryVersion: (UInt8, UInt8, UInt8)) -> [UInt8] {
        let version = body.format.version
        precondition(rowCount <= Int(UInt32.max), "a payload holds at most \(UInt32.max) rows")
        let raw = body.bytes
        // compress returns [] for bodies LZ4 cannot take; the raw path handles them.
        let compressed = LZ4Block.compress(raw)
        let useCompressed = !compressed.isEmpty && compressed.count < raw.count && raw.count <= Int(UInt32.max)
        let wireBody = useCompressed ? compressed : raw
        var header = PayloadHeader(
            version: version,
            libraryVersion: libraryVersion,
            expandedSize: useCompressed ? UInt32(raw.count) : 0,
            columnCount: UInt16(Self.columnCount),
            rowCount: UInt32(rowCount),
            schemaHash: schemaHash)
        if version >= 2 { header.checksum = PayloadHeader.checksum(of: wireBody) }
        var payload = header.encoded()
        payload.reserveCapacity(PayloadHeader.size + wireBody.count)
        payload.append(contentsOf: wireBody)
        return payload
    }
}
