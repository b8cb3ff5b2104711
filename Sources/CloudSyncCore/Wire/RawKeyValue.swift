/// One value of a primary-key blob, read in place (no copy), for the hot path of the changes
/// feed, which decodes one key value per clock row.
enum RawKeyValue {
    case integer(Int64)
    case real(Double)
    case text(UnsafeRawBufferPointer)
    case blob(UnsafeRawBufferPointer)
    case null

    /// The `position`-th value (from 1) of the key blob `blob`, or nil if the blob does not
    /// hold that many well-formed values. Every length is checked before it is used.
    static func value(at position: Int, in blob: UnsafeRawBufferPointer) -> RawKeyValue? {
        guard blob.count >= 1, position >= 1, position <= Int(blob[0]) else { return nil }
        var offset = 1
        func bigEndian(_ count: Int) -> UInt64? {
            guard count >= 1, count <= 8, offset + count <= blob.count else { return nil }
            var value: UInt64 = 0
            for _ in 0..<count {
                value = value << 8 | UInt64(blob[offset])
                offset += 1
            }
            return value
        }
        for index in 1...position {
            guard offset < blob.count else { return nil }
            let tag = blob[offset]
            offset += 1
            let type = tag & 0x07, count = Int(tag >> 3)
            let value: RawKeyValue
            switch type {
            case WireType.positiveInteger, WireType.negativeInteger:
                guard let magnitude = bigEndian(count), magnitude <= UInt64(Int64.max) else { return nil }
                value = .integer(type == WireType.positiveInteger ? Int64(magnitude) : -Int64(magnitude))
            case WireType.integerMin:
                value = .integer(.min)
            case WireType.positiveReal, WireType.negativeReal:
                guard let bits = bigEndian(8) else { return nil }
                let real = Double(bitPattern: bits)
                value = .real(type == WireType.positiveReal ? real : -real)
            case WireType.text, WireType.blob:
                guard let length = bigEndian(count), length <= UInt64(blob.count - offset) else { return nil }
                let bytes = UnsafeRawBufferPointer(rebasing: blob[offset..<(offset + Int(length))])
                offset += Int(length)
                value = type == WireType.text ? .text(bytes) : .blob(bytes)
            case WireType.null:
                value = .null
            default:
                return nil
            }
            if index == position { return value }
        }
        return nil
    }
}
