/// The `Cloudsync-Denied` header of a notify answer: how many rows of each table the
/// server's Row-Level Security refused. The notify body must stay empty (clients written for
/// the C extension expect it), so the report travels in a header, which those clients ignore.
///
///     Cloudsync-Denied: tasks=2, notes=1
///
/// Table names are percent-encoded (anything but letters, digits, `_`, `-` and `.`).
package enum DeniedRowsHeader {
    package static let name = "Cloudsync-Denied"

    /// The header value for `(table, rows)` pairs.
    package static func encode(_ denied: [(table: String, rows: Int)]) -> String {
        denied.map { "\(percentEncode($0.table))=\($0.rows)" }.joined(separator: ", ")
    }

    /// The pairs of a header value; malformed parts are skipped.
    package static func decode(_ value: String) -> [(table: String, rows: Int)] {
        value.split(separator: ",").compactMap { part in
            let pieces = part.split(separator: "=", maxSplits: 1)
            guard pieces.count == 2, let rows = Int(pieces[1].filter { $0 != " " }), rows > 0,
                  let table = percentDecode(pieces[0].filter { $0 != " " }), !table.isEmpty
            else { return nil }
            return (table, rows)
        }
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    private static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            if isPlain(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return result
    }

    private static func percentDecode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let decoded = Hex.decode(String(decoding: utf8.prefix(2), as: UTF8.self)), decoded.count == 1 else { return nil }
                bytes += decoded
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validUTF8: bytes)
    }
}
