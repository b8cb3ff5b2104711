#if canImport(Compression)
import Compression

/// The platform's raw LZ4 block codec on Apple platforms: the Compression framework's
/// `COMPRESSION_LZ4_RAW`, which is the LZ4 block format without a frame, as payload bodies are.
/// Its twin for other platforms (liblz4) is LZ4Codec.swift; both meet the same tests.
enum LZ4Codec {
    static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard let input = source.baseAddress, let output = destination.baseAddress else { return 0 }
        return compression_encode_buffer(
            output.assumingMemoryBound(to: UInt8.self), destination.count,
            input.assumingMemoryBound(to: UInt8.self), source.count, nil, COMPRESSION_LZ4_RAW)
    }

    static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int? {
        guard let input = source.baseAddress, let output = destination.baseAddress else { return nil }
        let produced = compression_decode_buffer(
            output.assumingMemoryBound(to: UInt8.self), destination.count,
            input.assumingMemoryBound(to: UInt8.self), source.count, nil, COMPRESSION_LZ4_RAW)
        // 0 is the framework's only error report; no payload body expands to nothing.
        return produced == 0 ? nil : produced
    }
}
#endif
