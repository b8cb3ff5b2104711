/// UUIDs as text and as 16-byte blobs (`cloudsync_uuid_text`, `cloudsync_uuid_blob`).
package enum UUIDText {
    /// `bytes` (16) as lowercase hex, in the canonical 8-4-4-4-12 form when `dashes`.
    package static func format(_ bytes: [UInt8], dashes: Bool = true) -> String {
        let hex = Hex.encode(bytes)
        guard dashes else { return hex }
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    /// The 16 bytes of a UUID written with or without dashes (in the canonical places), in
    /// either case, optionally in braces; nil for anything else.
    package static func parse(_ text: String) -> [UInt8]? {
        var digits = Substring(text)
        if digits.hasPrefix("{") && digits.hasSuffix("}") { digits = digits.dropFirst().dropLast() }
        let groups = digits.split(separator: "-", omittingEmptySubsequences: false)
        if groups.count == 5 {
            guard groups.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
            digits = Substring(groups.joined())
        }
        guard digits.utf8.count == 32, let bytes = Hex.decode(digits) else { return nil }
        return bytes
    }
}
