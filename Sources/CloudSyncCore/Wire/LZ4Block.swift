/// Raw LZ4 blocks (the block format, not the frame format), as used for payload bodies.
///
/// The checks and errors are here; the codec itself is the platform's (``LZ4Codec``): liblz4,
/// or Apple's Compression framework, which reads and writes the same raw blocks.
package enum LZ4Block {
    /// The largest input LZ4 can compress (`LZ4_MAX_INPUT_SIZE`, about 2 GB).
    package static let maxInputSize = 0x7E00_0000

    /// The largest factor by which a block can expand: each byte of a block yields at most 255
    /// bytes of output, so a valid block of `n` bytes never decompresses to more than `255 * n`.
    package static let maxExpansionRatio = 255

    /// `input` compressed as one LZ4 block, or an empty array when `input` is larger than
    /// ``maxInputSize`` (a non-empty input never compresses to an empty block).
    package static func compress(_ input: [UInt8]) -> [UInt8] {
        guard input.count <= maxInputSize else { return [] }
        // LZ4_COMPRESSBOUND: the worst case of incompressible input.
        let bound = input.count + input.count / 255 + 16
        // An empty array may have no storage; LZ4 still wants a valid pointer.
        let storage = input.isEmpty ? [0] : input
        return storage.withUnsafeBytes { source in
            [UInt8](unsafeUninitializedCapacity: bound) { destination, initialized in
                initialized = LZ4Codec.compress(
                    UnsafeRawBufferPointer(rebasing: source.prefix(input.count)), into: UnsafeMutableRawBufferPointer(destination))
            }
        }
    }

    /// The bytes of the LZ4 block `input`, which must decompress to exactly `expandedSize` bytes.
    ///
    /// - Throws: `.malformedPayload` when the block is invalid or its output is not exactly
    ///   `expandedSize` bytes long.
    package static func decompress(_ input: ArraySlice<UInt8>, expandedSize: Int) throws(CloudSyncError) -> [UInt8] {
        guard expandedSize >= 0, expandedSize < Int(Int32.max), input.count <= Int(Int32.max) else {
            throw CloudSyncError(
                .malformedPayload,
                "LZ4 block of \(input.count) bytes with expanded size \(expandedSize) is out of range")
        }
        guard !input.isEmpty else {
            throw CloudSyncError(.malformedPayload, "LZ4 block is empty")
        }
        var produced: Int?
        let output = input.withUnsafeBytes { source in
            // One spare byte so that an overlong block shows instead of stopping at the limit,
            // and so that the buffer is never empty.
            [UInt8](unsafeUninitializedCapacity: expandedSize + 1) { destination, initialized in
                produced = LZ4Codec.decompress(source, into: UnsafeMutableRawBufferPointer(destination))
                initialized = produced ?? 0
            }
        }
        guard let produced else {
            throw CloudSyncError(.malformedPayload, "body is not a valid LZ4 block")
        }
        guard produced == expandedSize else {
            throw CloudSyncError(
                .malformedPayload,
                "body decompresses to \(produced)\(produced > expandedSize ? " or more" : "") bytes, "
                    + "not the expanded size \(expandedSize)")
        }
        return output
    }
}
