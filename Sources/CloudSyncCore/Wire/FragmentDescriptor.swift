/// The `col_name` of a version-3 fragment row (wire-format §8):
/// `__cloudsync_frag_v1__:<value_id>:<checksum>:<part_index>:<part_count>:<total_size>:<column>`.
///
/// A large value `E` (one value encoded as in §1) travels as `part_count` consecutive slices;
/// every piece names the whole value's checksum and size, and an id derived from the change it
/// belongs to, so pieces can be staged in any order and checked when the last one arrives.
package struct FragmentDescriptor: Equatable, Sendable {
    package static let prefix = "__cloudsync_frag_v1__"

    /// 32 lowercase hex digits.
    package var valueID: String
    /// FNV-1a 64 of the encoded value.
    package var checksum: UInt64
    package var partIndex: Int
    package var partCount: Int
    /// The length of the encoded value.
    package var totalSize: Int
    /// The real column the value belongs to.
    package var column: String

    /// Parses `text`; nil when it is not a fragment descriptor at all (no prefix).
    /// - Throws: `.malformedPayload` for a descriptor with the prefix that breaks the rules.
    package init?(parsing text: String) throws(CloudSyncError) {
        guard text.hasPrefix(Self.prefix + ":") else { return nil }
        func bad(_ why: String) -> CloudSyncError {
            CloudSyncError(.malformedPayload, "fragment descriptor '\(text.prefix(120))': \(why)")
        }
        let fields = text.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard fields.count == 7 else { throw bad("expected 7 fields separated by ':'") }
        let id = fields[1], sum = fields[2]
        guard id.utf8.count == 32, Self.isLowerHex(id) else { throw bad("the value id must be 32 lowercase hex digits") }
        guard sum.utf8.count == 16, Self.isLowerHex(sum), let checksum = UInt64(sum, radix: 16) else {
            throw bad("the checksum must be 16 lowercase hex digits")
        }
        guard let index = Self.decimal(fields[3]), let count = Self.decimal(fields[4]), let total = Self.decimal(fields[5]) else {
            throw bad("part index, part count and total size must be unsigned decimal numbers")
        }
        guard index < count else { throw bad("part \(index) of \(count) is out of range") }
        guard total > 0 else { throw bad("the total size must be positive") }
        guard !fields[6].isEmpty else { throw bad("the column name is empty") }
        valueID = String(id)
        self.checksum = checksum
        partIndex = index
        partCount = count
        totalSize = total
        column = String(fields[6])
    }

    /// The value id the pieces of this change must carry: two FNV-1a 64 values over the
    /// change's fields, as hex.
    package static func valueID(
        table: String, pk: [UInt8], column: String, siteID: [UInt8], colVersion: Int64, dbVersion: Int64,
        causalLength: Int64, seq: Int64, checksum: UInt64, totalSize: Int
    ) -> String {
        let separator: [UInt8] = [0x1F]
        var first = FNV1a()
        first.add(Array(table.utf8) + separator + pk + separator + Array(column.utf8) + separator + siteID)
        for v in [colVersion, dbVersion, causalLength, seq] { first.add(v) }
        first.add(checksum)
        first.add(UInt64(totalSize))
        var second = FNV1a(seed: SchemaHash.prime)
        second.add(UInt64(totalSize))
        second.add(checksum)
        second.add(siteID + Array(column.utf8) + pk + Array(table.utf8))
        for v in [seq, causalLength, dbVersion, colVersion] { second.add(v) }
        return hex16(first.value) + hex16(second.value)
    }

    private static func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func isLowerHex(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int(text)
    }
}
