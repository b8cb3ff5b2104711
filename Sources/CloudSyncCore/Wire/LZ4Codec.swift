#if !canImport(Compression)
import CLZ4

/// The platform's raw LZ4 block codec: liblz4 (Linux and every platform without Apple's
/// Compression framework). Its twin for Apple platforms is LZ4Codec+Compression.swift.
enum LZ4Codec {
    /// Compresses `source` into `destination` (at least the LZ4 bound); returns the bytes
    /// written, 0 when it failed.
    static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard let input = source.baseAddress, let output = destination.baseAddress else { return 0 }
        let written = LZ4_compress_default(
            input.assumingMemoryBound(to: CChar.self), output.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        return Int(max(written, 0))
    }

    /// Decompresses the block `source` into `destination`; returns the bytes written (at most
    /// `destination.count`: a longer output is cut there), nil when the block is invalid.
    static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int? {
        guard let input = source.baseAddress, let output = destination.baseAddress else { return nil }
        let produced = LZ4_decompress_safe(
            input.assumingMemoryBound(to: CChar.self), output.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        // liblz4 reports an output longer than the buffer as an error; the caller's spare byte
        // makes "longer than expected" and "invalid" the same refusal either way.
        return produced < 0 ? nil : Int(produced)
    }
}
#endif
