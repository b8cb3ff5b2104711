extension String {
    /// The text without leading and trailing spaces, tabs and line breaks.
    package var trimmed: String {
        // "\r\n" is one Character (one grapheme cluster), equal to neither "\r" nor "\n": header
        // lines from libcurl end with it.
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
