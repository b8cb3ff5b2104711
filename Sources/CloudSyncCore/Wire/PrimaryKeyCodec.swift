/// Encodes and decodes primary-key blobs (wire-format §2): one byte holding the number of key
/// columns (1...255), then each key value encoded as in §1.
///
/// Two rows have the same identity exactly when their primary-key blobs are equal, so
/// ``decode(_:)`` accepts only canonical blobs (see ``ByteReader``).
package enum PrimaryKeyCodec {
    /// The blob for a key made of `values`, in declaration order.
    ///
    /// - Throws: `.misuse` when there are no values or more than 255.
    package static func encode(_ values: [SQLValue]) throws(CloudSyncError) -> [UInt8] {
        guard !values.isEmpty, values.count <= 255 else {
            throw CloudSyncError(.misuse, "a primary key must have 1 to 255 values, got \(values.count)")
        }
        var writer = ByteWriter(capacity: 1 + values.count * 9)
        writer.appendRawUInt8(UInt8(values.count))
        for value in values {
            writer.append(value)
        }
        return writer.bytes
    }

    /// The `position`-th value (from 1) of a key blob, reading only as far as needed.
    package static func value(at position: Int, in blob: [UInt8]) throws(CloudSyncError) -> SQLValue {
        var reader = try reader(blob[...])
        let count = Int(blob[0])
        guard position >= 1, position <= count else {
            throw CloudSyncError(.misuse, "index \(position) is out of range; the key has \(count) values")
        }
        for _ in 1..<position { try reader.skipValue() }
        return try reader.readValue()
    }

    /// The key values held in `blob`.
    ///
    /// - Throws: `.malformedPayload` for an empty blob, a zero count, a truncated or invalid
    ///   value, or bytes after the last value.
    package static func decode(_ blob: [UInt8]) throws(CloudSyncError) -> [SQLValue] {
        var reader = try reader(blob[...])
        let count = Int(blob[0])
        var values: [SQLValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try reader.readValue())
        }
        try checkEnd(reader)
        return values
    }

    /// Checks that `blob` is a valid primary-key blob without copying any value.
    static func validate(_ blob: ArraySlice<UInt8>) throws(CloudSyncError) {
        var reader = try reader(blob)
        for _ in 0..<Int(blob[blob.startIndex]) {
            try reader.skipValue()
        }
        try checkEnd(reader)
    }

    /// A reader positioned after the count byte, which it checks.
    private static func reader(_ blob: ArraySlice<UInt8>) throws(CloudSyncError) -> ByteReader {
        guard let count = blob.first else {
            throw CloudSyncError(.malformedPayload, "primary-key blob is empty")
        }
        guard count > 0 else {
            throw CloudSyncError(.malformedPayload, "primary-key blob has a zero value count")
        }
        var reader = ByteReader(blob)
        _ = try reader.readRawUInt8()
        return reader
    }

    private static func checkEnd(_ reader: ByteReader) throws(CloudSyncError) {
        guard reader.isAtEnd else {
            throw CloudSyncError(
                .malformedPayload,
                "primary-key blob has \(reader.remaining) bytes after its last value (byte offset \(reader.offset))")
        }
    }
}
