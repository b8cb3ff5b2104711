/// The schema hash of wire-format §5: 64-bit FNV-1a over a normalized reading of the
/// lower-cased, comma-joined CREATE TABLE statements of the synchronized tables.
package enum SchemaHash {
    /// The FNV-1a 64-bit offset basis.
    package static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The FNV-1a 64-bit prime.
    package static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The exact bytes hashed for `loweredSchema` (wire-format §5, rules 1-7): comments and
    /// non-printable bytes outside quotes are dropped, `;` is dropped, runs of white space
    /// collapse to one space (none before `(`, `)`, `,`, `;`, the end, or at the start or after
    /// another dropped space), text outside quotes is lower-cased, and quoted text is kept as
    /// it is except that a doubled closing quote is kept once.
    package static func normalized(_ loweredSchema: [UInt8]) -> [UInt8] {
        enum Comment { case none, line, block }
        let s = loweredSchema
        let n = s.count
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var quote: UInt8 = 0  // 0, ' or "
        var comment = Comment.none
        var lastSpace = true
        var i = 0
        while i < n {
            let c = s[i]
            let next: UInt8? = i + 1 < n ? s[i + 1] : nil
            switch comment {
            case .line:
                if c == UInt8(ascii: "\n") { comment = .none }
                i += 1
                continue
            case .block:
                if c == UInt8(ascii: "*"), next == UInt8(ascii: "/") {
                    comment = .none
                    i += 2
                } else {
                    i += 1
                }
                continue
            case .none:
                break
            }
            if quote == 0 {  // rule 1
                if c == UInt8(ascii: "-"), next == UInt8(ascii: "-") {
                    comment = .line
                    i += 2
                    continue
                }
                if c == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                    comment = .block
                    i += 2
                    continue
                }
            }
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {  // rule 2
                if quote == c {
                    if next == c {
                        out.append(c)
                        lastSpace = false
                        i += 2
                        continue
                    }
                    quote = 0
                } else if quote == 0 {
                    quote = c
                }
                out.append(c)
                lastSpace = false
                i += 1
                continue
            }
            if quote != 0 {  // rule 3
                out.append(c)
                lastSpace = false
                i += 1
                continue
            }
            if c < 0x20 || c > 0x7E {  // rule 4
                i += 1
                continue
            }
            if c == UInt8(ascii: " ") {  // rule 5
                var j = i + 1
                while j < n, isWhiteSpace(s[j]) { j += 1 }
                let dropped = j == n || endsSpace(s[j])
                if !dropped, !lastSpace { out.append(c) }
                lastSpace = true
                i += 1
                continue
            }
            if c == UInt8(ascii: ";") {  // rule 6
                lastSpace = true
                i += 1
                continue
            }
            // rule 7
            out.append(c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c)
            lastSpace = false
            i += 1
        }
        return out
    }

    /// The schema hash of `loweredSchema` (the lower-cased, comma-joined CREATE TABLE statements).
    package static func hash(_ loweredSchema: String) -> UInt64 {
        fnv1a(normalized(Array(loweredSchema.utf8)))
    }

    /// 64-bit FNV-1a of `bytes`.
    package static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h = offsetBasis
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* prime
        }
        return h
    }

    /// The hash as the signed 64-bit integer stored in `cloudsync_schema_versions` (same bits).
    package static func signed(_ h: UInt64) -> Int64 {
        Int64(bitPattern: h)
    }
}

private func isWhiteSpace(_ c: UInt8) -> Bool {
    c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C
}

/// Whether a space followed by `c` is dropped (rule 5).
private func endsSpace(_ c: UInt8) -> Bool {
    c == UInt8(ascii: "(") || c == UInt8(ascii: ")") || c == UInt8(ascii: ",") || c == UInt8(ascii: ";")
}
