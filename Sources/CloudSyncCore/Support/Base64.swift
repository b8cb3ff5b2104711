/// Standard base64 (RFC 4648 alphabet, `=` padding), the encoding of protocol v2's inline
/// payloads, without Foundation: the server reads and writes it, and so does the client.
/// Pages are megabytes, so both directions work on raw buffers.
package enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// The value of each byte as a digit, 0xFF for a byte that is not one (`=` included).
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        let count = (bytes.count + 2) / 3 * 4
        guard count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: count) { out in
            alphabet.withUnsafeBufferPointer { digits in
                bytes.withUnsafeBufferPointer { input in
                    var index = 0, written = 0
                    while index < input.count {
                        let left = input.count - index
                        let b0 = UInt32(input[index])
                        let b1 = left > 1 ? UInt32(input[index + 1]) : 0
                        let b2 = left > 2 ? UInt32(input[index + 2]) : 0
                        let group = b0 << 16 | b1 << 8 | b2
                        out[written] = digits[Int(group >> 18 & 63)]
                        out[written + 1] = digits[Int(group >> 12 & 63)]
                        out[written + 2] = left > 1 ? digits[Int(group >> 6 & 63)] : UInt8(ascii: "=")
                        out[written + 3] = left > 2 ? digits[Int(group & 63)] : UInt8(ascii: "=")
                        index += 3
                        written += 4
                    }
                }
            }
            return count
        }
    }

    /// The bytes of `text` (whitespace ignored), or nil when it is not standard padded base64.
    package static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 in
            let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
            guard utf8.contains(where: isSpace) else { return decode(digits: utf8) }
            return utf8.filter { !isSpace($0) }.withUnsafeBufferPointer { decode(digits: $0) }
        }
    }

    private static func decode(digits: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = digits.count
        guard count % 4 == 0 else { return nil }
        guard count > 0 else { return [] }
        // Padding only at the very end, at most two; any other `=` is not a digit below.
        let padding = digits[count - 1] == UInt8(ascii: "=") ? (digits[count - 2] == UInt8(ascii: "=") ? 2 : 1) : 0
        let length = count / 4 * 3 - padding
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
            values.withUnsafeBufferPointer { values in
                var index = 0, written = 0
                while index < count {
                    let last = index + 4 == count
                    let d0 = values[Int(digits[index])], d1 = values[Int(digits[index + 1])]
                    let d2 = last && padding == 2 ? 0 : values[Int(digits[index + 2])]
                    let d3 = last && padding >= 1 ? 0 : values[Int(digits[index + 3])]
                    // A digit is below 64, a non-digit 0xFF.
                    guard d0 | d1 | d2 | d3 < 64 else {
                        valid = false
                        break
                    }
                    let group = UInt32(d0) << 18 | UInt32(d1) << 12 | UInt32(d2) << 6 | UInt32(d3)
                    out[written] = UInt8(group >> 16 & 0xFF)
                    if written + 1 < length { out[written + 1] = UInt8(group >> 8 & 0xFF) }
                    if written + 2 < length { out[written + 2] = UInt8(group & 0xFF) }
                    written += 3
                    index += 4
                }
            }
            initialized = valid ? length : 0
        }
        return valid ? out : nil
    }
}
