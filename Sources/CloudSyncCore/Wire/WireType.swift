/// The 3-bit type codes of wire-format §1 and the minimal-length rule.
enum WireType {
    static let negativeInteger: UInt8 = 0
    static let positiveInteger: UInt8 = 1
    static let positiveReal: UInt8 = 2
    static let text: UInt8 = 3
    static let blob: UInt8 = 4
    static let null: UInt8 = 5
    static let integerMin: UInt8 = 6
    static let negativeReal: UInt8 = 7

    /// The minimal number of big-endian bytes for `v` with the top bit of the first byte clear:
    /// 1 up to 0x7F, 2 up to 0x7FFF, ..., 8 otherwise.
    @inline(__always)
    static func minimalLength(_ v: UInt64) -> Int {
        let bits = 64 &- v.leadingZeroBitCount
        return Swift.min(bits / 8 &+ 1, 8)
    }

    /// The shortest number of big-endian bytes for `v` (1 up to 0xFF, 2 up to 0xFFFF, ...), as
    /// sqlite-sync 1.x writes magnitudes in version-2 payloads.
    @inline(__always)
    static func shortestLength(_ v: UInt64) -> Int {
        Swift.max((64 &- v.leadingZeroBitCount &+ 7) / 8, 1)
    }

    /// The length `format` writes `v` with.
    @inline(__always)
    static func length(_ v: UInt64, _ format: PayloadFormat) -> Int {
        format == .v1 ? minimalLength(v) : shortestLength(v)
    }

    /// A name for a type code, for error messages.
    static func name(_ type: UInt8) -> String {
        switch type {
        case negativeInteger, positiveInteger, integerMin: "INTEGER"
        case positiveReal, negativeReal: "REAL"
        case text: "TEXT"
        case blob: "BLOB"
        default: "NULL"
        }
    }
}
