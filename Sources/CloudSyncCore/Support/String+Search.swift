extension String {
    /// The first range of `needle`, compared byte by byte in UTF-8: the standard library's
    /// own string search, test and replace need iOS 16 / macOS 13, and the engine and the
    /// Swift API support earlier systems.
    package func firstRange(ofText needle: String) -> Range<String.Index>? {
        let bytes = utf8
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty else { return startIndex..<startIndex }
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index...].starts(with: pattern) { return index..<bytes.index(index, offsetBy: pattern.count) }
            bytes.formIndex(after: &index)
        }
        return nil
    }

    /// Whether `needle` occurs in the text (see ``firstRange(ofText:)``).
    package func containsText(_ needle: String) -> Bool {
        firstRange(ofText: needle) != nil
    }

    /// The text with every occurrence of `target` replaced by `replacement`, left to right.
    package func replacingText(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let found = String(rest).firstRange(ofText: target), !target.isEmpty {
            let text = String(rest)
            result += text[..<found.lowerBound] + replacement
            rest = text[found.upperBound...]
        }
        return result + rest
    }
}
