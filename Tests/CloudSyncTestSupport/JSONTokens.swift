/// Counts JSON tokens as the 1.0.12 client's parser does (every object, array, key and scalar
/// is one token; sync-protocol-v2.md §4). Assumes valid JSON.
public enum JSONTokens {
    public static func count(_ json: String) -> Int {
        let bytes = Array(json.utf8)
        var count = 0
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                count += 1
                index += 1
            case UInt8(ascii: "\""):
                count += 1
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                index += 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                count += 1
                while index < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: " ")].contains(bytes[index]) { index += 1 }
            default:
                index += 1
            }
        }
        return count
    }
}
