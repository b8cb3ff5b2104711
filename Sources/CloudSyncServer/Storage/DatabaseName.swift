/// Rules for managed database names.
///
/// A name is also the database's file name under `DATA/databases/`, so it must not be able
/// to escape that directory: `[A-Za-z0-9_][A-Za-z0-9._-]{0,63}`. The first character cannot
/// be a dot, which rules out `.`, `..` and hidden files; no slash or backslash anywhere.
public enum DatabaseName {
    public static let pattern = "[A-Za-z0-9_][A-Za-z0-9._-]{0,63}"
    public static let maxLength = 64

    /// True if `name` is a valid database name.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maxLength else { return false }
        guard isAlphanumeric(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.dropFirst().allSatisfy { byte in
            isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    /// Throws `.invalidName` unless `name` is valid.
    public static func validate(_ name: String) throws(SyncStorageError) {
        guard isValid(name) else {
            throw SyncStorageError(.invalidName, "invalid database name '\(name)': use 1 to 64 characters from A-Z a-z 0-9 _ . - (not starting with . or -)")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
