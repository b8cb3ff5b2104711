import Foundation

/// Field lookup as 1.0.12 does it (sync-protocol-v2.md §4): the first JSON string equal to the
/// name, anywhere in the document, and the token after it.
public enum V2Fields {
    public static func integer(_ name: String, in json: String) -> Int64? {
        guard let value = valueStart(name, json) else { return nil }
        let digits = value.prefix { $0 == "-" || $0.isNumber }
        return Int64(digits)
    }

    public static func string(_ name: String, in json: String) -> String? {
        guard let value = valueStart(name, json), value.first == "\"" else { return nil }
        var out = ""
        var escaped = false
        for character in value.dropFirst() {
            if escaped {
                out.append(character == "n" ? "\n" : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return out
            } else {
                out.append(character)
            }
        }
        return nil
    }

    private static func valueStart(_ name: String, _ json: String) -> Substring? {
        guard let key = json.range(of: "\"\(name)\"") else { return nil }
        var rest = json[key.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        return rest
    }
}
