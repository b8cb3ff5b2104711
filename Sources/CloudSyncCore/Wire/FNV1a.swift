/// Plain FNV-1a 64 (no normalization), fed piece by piece: payload checksums and the
/// fragment descriptors of wire-format §8.
package struct FNV1a {
    package private(set) var value: UInt64

    /// A hash starting at `seed` (the usual offset basis unless a format says otherwise).
    package init(seed: UInt64 = SchemaHash.offsetBasis) {
        value = seed
    }

    package mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* SchemaHash.prime
        }
    }

    /// `v` as 8 bytes big-endian (two's complement for negatives).
    package mutating func add(_ v: Int64) {
        add(UInt64(bitPattern: v))
    }

    package mutating func add(_ v: UInt64) {
        add((0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) })
    }

    /// The hash of `bytes` from the offset basis.
    package static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hasher = FNV1a()
        hasher.add(bytes)
        return hasher.value
    }
}
