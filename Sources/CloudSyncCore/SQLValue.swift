/// One SQLite value, as stored in a table or carried in a change.
///
/// Text is kept as its UTF-8 bytes so that values round-trip byte-exactly between peers, even
/// when a peer stored bytes that are not valid UTF-8.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text([UInt8])
    case blob([UInt8])

    /// A TEXT value holding `string`'s UTF-8 bytes.
    public static func string(_ string: String) -> SQLValue { .text(Array(string.utf8)) }

    /// The text as a Swift string, for `.text` values.
    public var stringValue: String? {
        if case .text(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// The integer, for `.integer` values.
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

extension SQLValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text(let bytes): "'" + String(decoding: bytes, as: UTF8.self) + "'"
        case .blob(let bytes): "x'" + Hex.encode(bytes) + "'"
        }
    }
}
