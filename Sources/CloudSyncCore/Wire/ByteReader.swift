/// Reads SQLite values encoded as in wire-format §1, checking every byte it reads.
///
/// The reader never traps on bad input: a type byte whose byte count is out of range, a
/// length that points past the end, or data that ends in the middle of a value all throw a
/// ``CloudSyncError`` with code `.malformedPayload` whose message gives the byte offset
/// (counted from the start of the reader's bytes).
///
/// The reader accepts exactly the encodings a conforming writer produces:
/// - integers and lengths must use the minimal number of bytes (1...8); a negative integer's
///   magnitude must be 1...Int64.max (`Int64.min` has its own type 6);
/// - REAL, NULL and INT64_MIN type bytes must have a zero byte-count field;
/// - REAL values are taken bit-exactly: type 2 is the bit pattern as is, type 7 is its negation
///   (a type 7 holding a zero, a NaN or a pattern with the sign bit set is accepted too).
///
/// In version-2 payloads (``format`` `.v2`) REAL bit patterns are little-endian and a magnitude
/// may also take the shortest byte count sqlite-sync 1.x writes (see ``ByteWriter``); the
/// payload's checksum, not canonical lengths, then guards against damage.
///
/// Keeping integers canonical keeps primary-key blobs canonical, so that two blobs for the same
/// key are always byte-equal.
package struct ByteReader {
    /// A value located in the reader's bytes, before any copy is made.
    enum Token {
        case integer(Int64)
        case real(Double)
        case text(Range<Int>)
        case blob(Range<Int>)
        case null

        /// The SQL type name, for error messages.
        var typeName: String {
            switch self {
            case .integer: "INTEGER"
            case .real: "REAL"
            case .text: "TEXT"
            case .blob: "BLOB"
            case .null: "NULL"
            }
        }
    }

    /// The bytes being read; token ranges index into it.
    let bytes: ArraySlice<UInt8>
    /// The absolute index of the next byte to read.
    private var position: Int
    /// The payload version the values were written for.
    package var format: PayloadFormat = .v1

    /// A reader over all of `bytes`.
    package init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// A reader over `bytes`; offsets are counted from `bytes.startIndex`.
    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// The number of bytes read so far.
    package var offset: Int { position &- bytes.startIndex }

    /// Whether every byte has been read.
    package var isAtEnd: Bool { position >= bytes.endIndex }

    /// The number of bytes not read yet.
    package var remaining: Int { bytes.endIndex &- position }

    /// Reads the next value.
    package mutating func readValue() throws(CloudSyncError) -> SQLValue {
        switch try readToken() {
        case .integer(let v): return .integer(v)
        case .real(let v): return .real(v)
        case .text(let range): return .text(Array(bytes[range]))
        case .blob(let range): return .blob(Array(bytes[range]))
        case .null: return .null
        }
    }

    /// Checks and skips the next value without copying it.
    package mutating func skipValue() throws(CloudSyncError) {
        _ = try readToken()
    }

    /// Reads the next value without copying text or blob bytes.
    mutating func readToken() throws(CloudSyncError) -> Token {
        let start = position
        guard start < bytes.endIndex else {
            throw malformed("expected a value at byte offset \(offset) but the data ends there")
        }
        let tag = bytes[start]
        position = start &+ 1
        let type = tag & 7
        let n = Int(tag &>> 3)
        switch type {
        case WireType.positiveInteger:
            let magnitude = try readMagnitude(n, tag: tag, at: start)
            guard magnitude <= UInt64(Int64.max) else {
                throw malformed("integer at byte offset \(start - bytes.startIndex) is out of range")
            }
            return .integer(Int64(magnitude))
        case WireType.negativeInteger:
            let magnitude = try readMagnitude(n, tag: tag, at: start)
            guard magnitude != 0, magnitude <= UInt64(Int64.max) else {
                throw malformed(
                    "negative integer at byte offset \(start - bytes.startIndex) has magnitude \(magnitude)")
            }
            return .integer(-Int64(magnitude))
        case WireType.integerMin:
            try expectZeroCount(n, tag: tag, at: start)
            return .integer(.min)
        case WireType.positiveReal, WireType.negativeReal:
            try expectZeroCount(n, tag: tag, at: start)
            guard remaining >= 8 else {
                throw malformed(
                    "REAL at byte offset \(start - bytes.startIndex) needs 8 bytes but only \(remaining) remain")
            }
            let pattern = readBigEndian(8)
            let value = Double(bitPattern: format == .v1 ? pattern : pattern.byteSwapped)
            return .real(type == WireType.negativeReal ? -value : value)
        case WireType.text, WireType.blob:
            let length = try readMagnitude(n, tag: tag, at: start)
            guard length <= UInt64(remaining) else {
                throw malformed(
                    "\(WireType.name(type)) at byte offset \(start - bytes.startIndex) has length \(length) "
                        + "but only \(remaining) bytes remain")
            }
            let range = position..<(position &+ Int(length))
            position = range.upperBound
            return type == WireType.text ? .text(range) : .blob(range)
        default:  // WireType.null
            try expectZeroCount(n, tag: tag, at: start)
            return .null
        }
    }

    /// Reads an INTEGER value, throwing if the next value has another type.
    mutating func readInteger(_ what: @autoclosure () -> String) throws(CloudSyncError) -> Int64 {
        let start = offset
        let token = try readToken()
        guard case .integer(let v) = token else {
            throw malformed("\(what()) must be INTEGER, found \(token.typeName) at byte offset \(start)")
        }
        return v
    }

    /// Reads one raw byte.
    package mutating func readRawUInt8() throws(CloudSyncError) -> UInt8 {
        guard position < bytes.endIndex else {
            throw malformed("expected a byte at byte offset \(offset) but the data ends there")
        }
        defer { position &+= 1 }
        return bytes[position]
    }

    // MARK: Private

    /// Reads an `n`-byte big-endian magnitude (integer or length) that must be 1...8 bytes
    /// long and minimal.
    private mutating func readMagnitude(_ n: Int, tag: UInt8, at start: Int) throws(CloudSyncError) -> UInt64 {
        let at = start &- bytes.startIndex
        guard n >= 1, n <= 8 else {
            throw malformed("type byte 0x\(Hex.encode([tag])) at byte offset \(at) has an invalid byte count \(n)")
        }
        guard n <= remaining else {
            throw malformed(
                "\(WireType.name(tag & 7)) at byte offset \(at) needs \(n) bytes but only \(remaining) remain")
        }
        let magnitude = readBigEndian(n)
        guard WireType.minimalLength(magnitude) == n || (format == .v2 && WireType.shortestLength(magnitude) == n) else {
            throw malformed("\(WireType.name(tag & 7)) at byte offset \(at) is not minimally encoded")
        }
        return magnitude
    }

    private func expectZeroCount(_ n: Int, tag: UInt8, at start: Int) throws(CloudSyncError) {
        guard n == 0 else {
            throw malformed("unknown type byte 0x\(Hex.encode([tag])) at byte offset \(start &- bytes.startIndex)")
        }
    }

    /// Reads `n` bytes (already known to be available) as a big-endian number.
    private mutating func readBigEndian(_ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in position..<(position &+ n) {
            v = v &<< 8 | UInt64(bytes[i])
        }
        position &+= n
        return v
    }

    private func malformed(_ message: String) -> CloudSyncError {
        CloudSyncError(.malformedPayload, message)
    }
}
