import CloudSyncTestSupport
import Testing
@testable import CloudSyncCore

@Suite("Value and primary-key encoding")
struct ValueCodecTests {
    private func encode(_ value: SQLValue) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(value)
        return writer.bytes
    }

    private func decodeOne(_ bytes: [UInt8]) throws(CloudSyncError) -> SQLValue {
        var reader = ByteReader(bytes)
        let value = try reader.readValue()
        #expect(reader.isAtEnd)
        return value
    }

    private func readError(_ bytes: [UInt8]) -> CloudSyncError? {
        var reader = ByteReader(bytes)
        do {
            _ = try reader.readValue()
            return nil
        } catch {
            return error
        }
    }

    @Test("integers use minimal lengths at every boundary and round-trip")
    func integerBoundaries() throws {
        for n in 1...8 {
            let top = n == 8 ? Int64.max : (Int64(1) << (8 * n - 1)) - 1
            for v in [top, -top] where v != 0 {
                let bytes = encode(.integer(v))
                #expect(bytes.count == 1 + n, "\(v)")
                #expect(bytes[0] == UInt8(n << 3) | (v < 0 ? 0 : 1))
                #expect(try decodeOne(bytes) == .integer(v))
            }
            if n < 8 {
                let next = top + 1
                #expect(encode(.integer(next)).count == 2 + n)
                #expect(try decodeOne(encode(.integer(next))) == .integer(next))
            }
        }
        #expect(encode(.integer(.min)) == [0x06])
        #expect(try decodeOne([0x06]) == .integer(.min))
        #expect(encode(.integer(0)) == [0x09, 0x00])
    }

    @Test("reals keep their exact bits, including -0.0, NaN and infinities")
    func realBits() throws {
        // -0.0 is not < 0: type 2 with its own bit pattern (sign bit set).
        #expect(encode(.real(-0.0)) == [0x02, 0x80, 0, 0, 0, 0, 0, 0, 0])
        #expect(encode(.real(0.0)) == [0x02, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(encode(.real(-.infinity)) == [0x07, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0])
        let negativeNaN = Double(bitPattern: 0xFFF8_0000_0000_0001)
        #expect(encode(.real(negativeNaN)) == [0x02, 0xFF, 0xF8, 0, 0, 0, 0, 0, 1])
        for v in [-0.0, 0.0, .nan, negativeNaN, .infinity, -.infinity, .leastNonzeroMagnitude,
            -.leastNonzeroMagnitude, -.greatestFiniteMagnitude, 1e-300]
        {
            guard case .real(let back) = try decodeOne(encode(.real(v))) else {
                Issue.record("not a real")
                continue
            }
            #expect(back.bitPattern == v.bitPattern)
        }
        // A type 7 holding a negative pattern negates it.
        #expect(try decodeOne([0x07, 0xBF, 0xF8, 0, 0, 0, 0, 0, 0]) == .real(1.5))
    }

    @Test("text and blob lengths are minimal and bytes are kept as they are")
    func textAndBlob() throws {
        #expect(encode(.text([])) == [0x0B, 0x00])
        #expect(encode(.blob([])) == [0x0C, 0x00])
        let invalidUTF8: [UInt8] = [0xFF, 0xFE, 0x00]
        #expect(try decodeOne(encode(.text(invalidUTF8))) == .text(invalidUTF8))
        let long = [UInt8](repeating: 7, count: 0x8000)
        let bytes = encode(.blob(long))
        #expect(Array(bytes.prefix(4)) == [0x1C, 0x00, 0x80, 0x00])
        #expect(try decodeOne(bytes) == .blob(long))
        var writer = ByteWriter()
        writer.appendText("h\u{e9}")
        #expect(writer.bytes == [0x0B, 0x03, 0x68, 0xC3, 0xA9])
        writer.removeAll()
        #expect(writer.count == 0)
    }

    @Test("the reader rejects bad type bytes, non-minimal numbers and short data with offsets")
    func readerRejects() throws {
        let cases: [([UInt8], String)] = [
            ([], "byte offset 0"),
            ([0x49], "invalid byte count 9"),  // INTEGER with nbytes 9
            ([0x01], "invalid byte count 0"),  // INTEGER with nbytes 0
            ([0x11, 0x00, 0x05], "not minimally encoded"),
            ([0x08, 0x00], "magnitude 0"),  // -0
            ([0x40, 0x80, 0, 0, 0, 0, 0, 0, 0], "magnitude"),  // -2^63 must use type 6
            ([0x41, 0x80, 0, 0, 0, 0, 0, 0, 0], "out of range"),
            ([0x19, 0x01], "needs 3 bytes but only 1 remain"),
            ([0x0B, 0x05, 0x61], "length 5 but only 1 bytes remain"),
            ([0x44, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "length"),
            ([0x0D], "unknown type byte 0x0d"),
            ([0x0E], "unknown type byte 0x0e"),
            ([0x0A, 0, 0, 0, 0, 0, 0, 0, 0], "unknown type byte 0x0a"),
            ([0x02, 0, 0, 0], "needs 8 bytes but only 3 remain"),
        ]
        for (bytes, fragment) in cases {
            let error = try #require(readError(bytes), "\(Hex.encode(bytes)) should fail")
            #expect(error.code == .malformedPayload)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
        // Offsets count from the reader's start, also for slices.
        let data: [UInt8] = [0xAA, 0x09, 0x01, 0x0B, 0x09]
        var reader = ByteReader(data[1...])
        #expect(try reader.readValue() == .integer(1))
        #expect(reader.offset == 2)
        do {
            _ = try reader.readValue()
            Issue.record("should fail")
        } catch {
            #expect(error.message.contains("byte offset 2"), "\(error.message)")
        }
    }

    @Test("the reader never traps on random bytes")
    func readerFuzz() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var reader = ByteReader(bytes)
            while true {
                do {
                    _ = try reader.readValue()
                } catch {
                    #expect(error.code == .malformedPayload)
                    break
                }
                if reader.isAtEnd { break }
            }
        }
    }

    @Test("canonical values re-encode to the bytes they were read from")
    func canonicalRoundTrip() throws {
        var rng = SeededGenerator(seed: 11)
        var accepted = 0
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 1...10, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Reals are taken bit-exactly in either type, so they need not re-encode the same way.
            if bytes[0] & 7 == 2 || bytes[0] & 7 == 7 { continue }
            var reader = ByteReader(bytes)
            guard let value = try? reader.readValue() else { continue }
            accepted += 1
            var writer = ByteWriter()
            writer.append(value)
            #expect(writer.bytes == Array(bytes[0..<reader.offset]), "\(Hex.encode(bytes))")
        }
        #expect(accepted > 300)
    }

    @Test("primary-key blobs: count limits, truncation and trailing bytes")
    func primaryKeys() throws {
        #expect(try PrimaryKeyCodec.encode([.string("a")]) == [0x01, 0x0B, 0x01, 0x61])
        for count in [0, 256] {
            #expect(throws: CloudSyncError.self) { try PrimaryKeyCodec.encode(Array(repeating: .null, count: count)) }
            do {
                _ = try PrimaryKeyCodec.encode(Array(repeating: .null, count: count))
            } catch {
                #expect(error.code == .misuse)
            }
        }
        let many = (0..<255).map { SQLValue.integer(Int64($0)) }
        #expect(try PrimaryKeyCodec.decode(PrimaryKeyCodec.encode(many)) == many)

        let bad: [([UInt8], String)] = [
            ([], "empty"),
            ([0x00], "zero value count"),
            ([0x02, 0x0B, 0x01, 0x61], "data ends"),
            ([0x01, 0x0B, 0x02, 0x61], "length 2"),
            ([0x01, 0x05, 0x05], "1 bytes after its last value"),
        ]
        for (blob, fragment) in bad {
            do {
                _ = try PrimaryKeyCodec.decode(blob)
                Issue.record("\(Hex.encode(blob)) should fail")
            } catch {
                #expect(error.code == .malformedPayload)
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
    }

    @Test("LZ4 blocks round-trip and reject size mismatches")
    func lz4() throws {
        for input: [UInt8] in [[], [1], Array(repeating: 0x41, count: 10_000), (0..<3000).map { UInt8($0 % 251) }] {
            let block = LZ4Block.compress(input)
            #expect(!block.isEmpty)
            #expect(try LZ4Block.decompress(block[...], expandedSize: input.count) == input)
            for wrong in [input.count + 1, input.count - 1] where wrong >= 0 {
                #expect(throws: CloudSyncError.self) { try LZ4Block.decompress(block[...], expandedSize: wrong) }
            }
        }
        #expect(throws: CloudSyncError.self) { try LZ4Block.decompress([][...], expandedSize: 0) }
        #expect(throws: CloudSyncError.self) { try LZ4Block.decompress([0xFF, 0xFF][...], expandedSize: 100) }
        #expect(throws: CloudSyncError.self) { try LZ4Block.decompress([0x10][...], expandedSize: -1) }
    }
}
