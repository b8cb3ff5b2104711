extension String {
    /// The text without leading and trailing spaces, tabs and line breaks.
    package var trimmed: String {
        // On the UTF-8 bytes: answers to trim can be megabytes, and every character it trims
        // is ASCII ("\r\n", a single Character, is two of them).
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }), let last = utf8.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(decoding: utf8[first...last], as: UTF8.self)
    }
}
