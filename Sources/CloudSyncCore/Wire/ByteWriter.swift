/// Appends SQLite values to a byte buffer in the wire encoding of wire-format §1.
///
/// Each value is one type byte, `(nbytes << 3) | type`, followed by its bytes:
///
/// - INTEGER: type 1 (value >= 0) or 0 (value < 0) with the magnitude in `nbytes` big-endian
///   bytes of minimal length; `Int64.min` is type 6 with no bytes.
/// - REAL: type 7 when `value < 0` (then the bit pattern of `-value` follows), otherwise type 2
///   with the value's own bit pattern. The test is the IEEE comparison `value < 0`, so NaN
///   (of either sign) and -0.0 are written as type 2 with their bit pattern unchanged, which
///   keeps every double bit-exact through a round trip.
/// - TEXT (type 3) and BLOB (type 4): the length in `nbytes` big-endian bytes of minimal
///   length, then the bytes.
/// - NULL: type 5.
///
/// Version-2 payloads (``format`` `.v2`) differ as sqlite-sync 1.x writes them: a REAL's bit
/// pattern is little-endian, and magnitudes take the shortest byte count, without keeping the
/// top bit clear (128 is `09 80`, not `11 00 80`). Primary-key blobs keep the 0.8 encoding.
///
/// The writer only appends to `bytes`; reserve capacity up front (``init(capacity:)``) when
/// encoding many rows, since no method allocates anything but the buffer's own growth.
package struct ByteWriter {
    /// The bytes written so far.
    package var bytes: [UInt8]
    /// The payload version the values are written for.
    package var format: PayloadFormat = .v1

    /// An empty writer whose buffer has room for `capacity` bytes.
    package init(capacity: Int = 0) {
        bytes = []
        if capacity > 0 { bytes.reserveCapacity(capacity) }
    }

    /// The number of bytes written so far.
    package var count: Int { bytes.count }

    /// Removes every byte written, keeping the buffer's capacity.
    package mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    // MARK: Values

    /// Appends an INTEGER value.
    package mutating func appendInteger(_ v: Int64) {
        if v == .min {
            bytes.append(WireType.integerMin)
        } else if v < 0 {
            appendTagged(WireType.negativeInteger, UInt64(-v))
        } else {
            appendTagged(WireType.positiveInteger, UInt64(v))
        }
    }

    /// Appends a REAL value (see the type documentation for NaN and -0.0).
    package mutating func appendReal(_ v: Double) {
        if v < 0 {
            bytes.append(WireType.negativeReal)
            appendRealBits((-v).bitPattern)
        } else {
            bytes.append(WireType.positiveReal)
            appendRealBits(v.bitPattern)
        }
    }

    /// Appends a TEXT value made of the UTF-8 bytes in `utf8` (written as they are).
    package mutating func appendText(_ utf8: UnsafeRawBufferPointer) {
        appendTagged(WireType.text, UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Appends a TEXT value made of the UTF-8 bytes in `utf8` (written as they are).
    package mutating func appendText(_ utf8: [UInt8]) {
        appendTagged(WireType.text, UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Appends a TEXT value holding `string`'s UTF-8 bytes.
    package mutating func appendText(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            appendText(UnsafeRawBufferPointer(utf8))
        }
    }

    /// Appends a BLOB value.
    package mutating func appendBlob(_ b: UnsafeRawBufferPointer) {
        appendTagged(WireType.blob, UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    /// Appends a BLOB value.
    package mutating func appendBlob(_ b: [UInt8]) {
        appendTagged(WireType.blob, UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    /// Appends a NULL value.
    package mutating func appendNull() {
        bytes.append(WireType.null)
    }

    /// Appends any value.
    package mutating func append(_ value: SQLValue) {
        switch value {
        case .null: appendNull()
        case .integer(let v): appendInteger(v)
        case .real(let v): appendReal(v)
        case .text(let utf8): appendText(utf8)
        case .blob(let b): appendBlob(b)
        }
    }

    // MARK: Raw big-endian helpers

    /// Appends one byte as it is.
    package mutating func appendRawUInt8(_ v: UInt8) {
        bytes.append(v)
    }

    /// Appends `v` as 2 big-endian bytes.
    package mutating func appendRawUInt16(_ v: UInt16) {
        appendRawBigEndian(UInt64(v), byteCount: 2)
    }

    /// Appends `v` as 4 big-endian bytes.
    package mutating func appendRawUInt32(_ v: UInt32) {
        appendRawBigEndian(UInt64(v), byteCount: 4)
    }

    /// Appends `v` as 8 big-endian bytes.
    package mutating func appendRawUInt64(_ v: UInt64) {
        appendRawBigEndian(v, byteCount: 8)
    }

    /// Appends bytes as they are.
    package mutating func appendRawBytes(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// Appends bytes as they are.
    package mutating func appendRawBytes(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    /// Appends the low `byteCount` bytes of `v` (1...8), most significant first.
    package mutating func appendRawBigEndian(_ v: UInt64, byteCount: Int) {
        var shift = (byteCount - 1) &* 8
        while shift >= 0 {
            bytes.append(UInt8(truncatingIfNeeded: v &>> UInt64(shift)))
            shift &-= 8
        }
    }

    // MARK: Private

    /// Appends the type byte for `type` with `magnitude` in the format's length, then the
    /// magnitude.
    private mutating func appendRealBits(_ pattern: UInt64) {
        appendRawUInt64(format == .v1 ? pattern : pattern.byteSwapped)
    }

    private mutating func appendTagged(_ type: UInt8, _ magnitude: UInt64) {
        let n = WireType.length(magnitude, format)
        bytes.append(UInt8(truncatingIfNeeded: n &<< 3) | type)
        appendRawBigEndian(magnitude, byteCount: n)
    }
}
