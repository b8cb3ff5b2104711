/// The 32-byte header of a payload (wire-format §4). All fields are big-endian.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | signature `CLSY` |
/// | 4 | 1 | format version, 1 |
/// | 5 | 3 | library major, minor, patch |
/// | 8 | 4 | expanded_size (0 when the body is not compressed) |
/// | 12 | 2 | ncols |
/// | 14 | 4 | nrows |
/// | 18 | 8 | schema_hash |
/// | 26 | 6 | version 1: reserved (zero, ignored); version 2: checksum, the low 48 bits of FNV-1a 64 of the body as sent (wire-format §7) |
package struct PayloadHeader: Equatable, Sendable {
    /// The header size in bytes.
    package static let size = 32
    /// The signature bytes, ASCII `CLSY`.
    package static let signature: [UInt8] = Array("CLSY".utf8)
    /// The format version this project writes by default (0.8 peers read only version 1).
    package static let currentVersion: UInt8 = 1
    /// The format versions this project reads.
    package static let readableVersions: ClosedRange<UInt8> = 1...3

    /// The format version.
    package var version: UInt8
    /// The version of the library that wrote the payload (informational).
    package var libraryVersion: (major: UInt8, minor: UInt8, patch: UInt8)
    /// The size of the body before compression, or 0 when the body is sent raw.
    package var expandedSize: UInt32
    /// The number of values in each change row (ncols).
    package var columnCount: UInt16
    /// The number of change rows (nrows).
    package var rowCount: UInt32
    /// The schema hash (wire-format §5) of the sender's synchronized schema.
    package var schemaHash: UInt64
    /// Version 2: the body's checksum (48 bits); 0 for version 1.
    package var checksum: UInt64 = 0

    package init(
        version: UInt8 = PayloadHeader.currentVersion,
        libraryVersion: (major: UInt8, minor: UInt8, patch: UInt8),
        expandedSize: UInt32,
        columnCount: UInt16,
        rowCount: UInt32,
        schemaHash: UInt64
    ) {
        self.version = version
        self.libraryVersion = libraryVersion
        self.expandedSize = expandedSize
        self.columnCount = columnCount
        self.rowCount = rowCount
        self.schemaHash = schemaHash
    }

    /// The header at the start of `payload`.
    ///
    /// - Throws: `.malformedPayload` when `payload` is shorter than ``size``, does not start
    ///   with the signature, or has a version this project does not read.
    package init(parsing payload: [UInt8]) throws(CloudSyncError) {
        guard payload.count >= Self.size else {
            throw CloudSyncError(
                .malformedPayload,
                "payload is \(payload.count) bytes, shorter than the \(Self.size)-byte header")
        }
        guard payload[0..<4].elementsEqual(Self.signature) else {
            throw CloudSyncError(
                .malformedPayload,
                "payload does not start with the signature CLSY (found 0x\(Hex.encode(payload[0..<4])))")
        }
        guard Self.readableVersions.contains(payload[4]) else {
            throw CloudSyncError(
                .malformedPayload,
                "payload format version \(payload[4]) is not supported (expected 1, 2 or 3)")
        }
        func field(_ offset: Int, _ size: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in offset..<(offset + size) { v = v << 8 | UInt64(payload[i]) }
            return v
        }
        version = payload[4]
        libraryVersion = (payload[5], payload[6], payload[7])
        expandedSize = UInt32(field(8, 4))
        columnCount = UInt16(field(12, 2))
        rowCount = UInt32(field(14, 4))
        schemaHash = field(18, 8)
        checksum = version >= 2 ? field(26, 6) : 0
    }

    /// The version-2 checksum of a body as sent: the low 48 bits of plain FNV-1a 64.
    public static func checksum(of body: some Collection<UInt8>) -> UInt64 {
        FNV1a.hash(body) & 0xFFFF_FFFF_FFFF
    }

    /// The 32 header bytes, reserved bytes zero.
    package func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.size)
        writer.appendRawBytes(Self.signature)
        writer.appendRawUInt8(version)
        writer.appendRawUInt8(libraryVersion.major)
        writer.appendRawUInt8(libraryVersion.minor)
        writer.appendRawUInt8(libraryVersion.patch)
        writer.appendRawUInt32(expandedSize)
        writer.appendRawUInt16(columnCount)
        writer.appendRawUInt32(rowCount)
        writer.appendRawUInt64(schemaHash)
        writer.appendRawBigEndian(version >= 2 ? checksum : 0, byteCount: 6)
        return writer.bytes
    }

    package static func == (lhs: PayloadHeader, rhs: PayloadHeader) -> Bool {
        lhs.version == rhs.version && lhs.libraryVersion == rhs.libraryVersion
            && lhs.expandedSize == rhs.expandedSize && lhs.columnCount == rhs.columnCount
            && lhs.rowCount == rhs.rowCount && lhs.schemaHash == rhs.schemaHash && lhs.checksum == rhs.checksum
    }
}
