/// JSON text for the few answers built by hand (the extension's 1.x results, the server's
/// protocol-v2 answers, whose field order matters): no Foundation in the engine.
package enum JSONText {
    /// `text` as a JSON string literal, quotes included. Non-ASCII text stays UTF-8 (1.x
    /// clients turn `\u` escapes above 0x7F into `?`).
    package static func string(_ text: String) -> String {
        // Most texts need no escape (a payload's base64 is megabytes of them).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = Hex.encode([UInt8(scalar.value)])
                out += "\\u00" + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
