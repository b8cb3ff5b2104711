/// Position keys of text blocks (block-text.md §4): base-62 fractional-index keys that sort
/// byte-wise, generated exactly as sqlite-sync 1.x generates them, so that a 1.x replica and
/// this one pick the same key for the same edit.
///
/// A key is an integer part (a head letter fixing its length, then digits) and an optional
/// fraction (digits, never ending in `0`). Pure functions, no state.
enum FractionalIndex {
    static let digits: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    private static let zero = digits[0]
    private static let top = digits[61]
    private static let smallestInteger: [UInt8] = [UInt8(ascii: "A")] + Array(repeating: UInt8(ascii: "0"), count: 26)

    static func value(of digit: UInt8) -> Int {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(digit - UInt8(ascii: "0"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(digit - UInt8(ascii: "A")) + 10
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(digit - UInt8(ascii: "a")) + 36
        default: 0
        }
    }

    /// The total length of an integer part with head `head`, or nil for an invalid head.
    static func integerLength(_ head: UInt8) -> Int? {
        switch head {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(head - UInt8(ascii: "a")) + 2
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(UInt8(ascii: "Z") - head) + 2
        default: nil
        }
    }

    /// Splits `key` into its integer part and fraction; nil for a key that is not valid.
    static func parts(_ key: [UInt8]) -> (integer: [UInt8], fraction: [UInt8])? {
        guard let head = key.first, let length = integerLength(head), key.count >= length else { return nil }
        let integer = Array(key[0..<length])
        let fraction = Array(key[length...])
        if fraction.last == zero { return nil }
        return (integer, fraction)
    }

    static func isValid(_ key: [UInt8]) -> Bool {
        guard let (integer, fraction) = parts(key) else { return false }
        return integer != smallestInteger || !fraction.isEmpty
    }

    /// A key strictly between `a` and `b` (nil = unbounded), or nil when none can be made
    /// (invalid bounds, `a >= b`, or the key space exhausted at an end).
    static func between(_ a: [UInt8]?, _ b: [UInt8]?) -> [UInt8]? {
        if let a, let b, !a.lexicographicallyPrecedes(b) { return nil }
        switch (a, b) {
        case (nil, nil):
            return Array("a0".utf8)
        case (nil, let b?):
            guard let (integer, fraction) = parts(b) else { return nil }
            if integer == smallestInteger { return integer + mid([], fraction) }
            if !fraction.isEmpty { return integer }
            return decrement(integer)
        case (let a?, nil):
            guard let (integer, fraction) = parts(a) else { return nil }
            if let next = increment(integer) { return next }
            return integer + mid(fraction, nil)
        case (let a?, let b?):
            guard let (ia, fa) = parts(a), let (ib, fb) = parts(b) else { return nil }
            if ia == ib { return ia + mid(fa, fb) }
            if let next = increment(ia), next.lexicographicallyPrecedes(b) { return next }
            return ia + mid(fa, nil)
        }
    }

    /// A digit string strictly between `x` and `y` (nil = unbounded above), not ending in `0`.
    static func mid(_ x: [UInt8], _ y: [UInt8]?) -> [UInt8] {
        if let y {
            var n = 0
            while n < y.count, (n < x.count ? x[n] : zero) == y[n] { n += 1 }
            if n > 0 {
                return Array(y[0..<n]) + mid(n < x.count ? Array(x[n...]) : [], Array(y[n...]))
            }
        }
        let dx = x.first.map(value(of:)) ?? 0
        let dy = y.flatMap { $0.first.map(value(of:)) } ?? 62
        if dy - dx > 1 { return [digits[(dx + dy + 1) / 2]] }
        if let y, y.count > 1 { return [y[0]] }
        return [digits[dx]] + mid(x.isEmpty ? [] : Array(x.dropFirst()), nil)
    }

    static func increment(_ integer: [UInt8]) -> [UInt8]? {
        guard let head = integer.first else { return nil }
        var body = Array(integer.dropFirst())
        var index = body.count - 1
        while index >= 0 {
            let v = value(of: body[index]) + 1
            if v < 62 {
                body[index] = digits[v]
                return [head] + body
            }
            body[index] = zero
            index -= 1
        }
        // Carry out of the first digit.
        if head == UInt8(ascii: "Z") { return Array("a0".utf8) }
        if head == UInt8(ascii: "z") { return nil }
        let next = head + 1
        if next > UInt8(ascii: "a") { body.append(zero) } else { body.removeLast() }
        return [next] + body
    }

    static func decrement(_ integer: [UInt8]) -> [UInt8]? {
        guard let head = integer.first else { return nil }
        var body = Array(integer.dropFirst())
        var index = body.count - 1
        while index >= 0 {
            let v = value(of: body[index]) - 1
            if v >= 0 {
                body[index] = digits[v]
                return [head] + body
            }
            body[index] = top
            index -= 1
        }
        if head == UInt8(ascii: "a") { return Array("Zz".utf8) }
        if head == UInt8(ascii: "A") { return nil }
        let previous = head - 1
        if previous < UInt8(ascii: "Z") { body.append(top) } else { body.removeLast() }
        return [previous] + body
    }

    /// The 22 base-62 digits of a 16-byte site id (most significant first), made to end in a
    /// non-zero digit so that they can end a key.
    static func siteDigits(_ site: [UInt8]) -> [UInt8] {
        var number = site.map(Int.init)
        var out: [UInt8] = []
        for _ in 0..<22 {
            var remainder = 0
            for i in number.indices {
                let current = remainder * 256 + number[i]
                number[i] = current / 62
                remainder = current % 62
            }
            out.append(digits[remainder])
        }
        out.reverse()
        if out.last == zero { out.append(digits[1]) }
        return out
    }

    /// `key` (a key strictly between `lower` and `upper`) extended by `suffix` so that it
    /// stays strictly between them: replicas with different suffixes never produce the same
    /// key for the same place, and every reader orders the result as `key` would be ordered.
    static func extend(_ key: [UInt8], by suffix: [UInt8], below upper: [UInt8]?) -> [UInt8] {
        let candidate = key + suffix
        guard let upper, !candidate.lexicographicallyPrecedes(upper) else { return candidate }
        // `key` is a prefix of `upper`: go below the remainder's first non-zero digit.
        let remainder = upper[key.count...]
        let zeros = (remainder.firstIndex { $0 != zero } ?? remainder.endIndex) - remainder.startIndex
        return key + Array(repeating: zero, count: zeros + 1) + suffix
    }
}
