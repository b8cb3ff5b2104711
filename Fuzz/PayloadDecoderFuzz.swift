// libFuzzer target for the payload decoder (wire-format §1, §2, §4).
//
// Compiled together with the wire sources as one module by scripts/fuzz; libFuzzer supplies
// main(). The decoder must throw, never trap, on any input. Every `invariant` below (a
// `precondition` that prints its message, see the end of the file) is an
// invariant that must hold for input the decoder accepted: a failure is a real bug, and
// libFuzzer reports it as a crash with the input that caused it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small limits so that a fuzzed header cannot make the decoder allocate huge buffers.
private let fuzzLimits = PayloadLimits(maxPayloadSize: 1 << 20, maxExpandedSize: 4 << 20, maxRows: 100_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkPayload(bytes)
    checkPrimaryKey(bytes)
    checkValues(bytes)
    return 0
}

// MARK: Payload

private func checkPayload(_ bytes: [UInt8]) {
    let decoded: (header: PayloadHeader, changes: [Change])
    do {
        decoded = try PayloadDecoder.decode(bytes, limits: fuzzLimits)
    } catch {
        invariant(
            error.code == .malformedPayload || error.code == .tooLarge,
            "decoder threw unexpected code \(error.code): \(error.message)")
        return
    }
    let (header, changes) = decoded

    // Header: what the decoder returned is what the first 32 bytes say, and it round-trips.
    invariant(bytes.count >= PayloadHeader.size)
    let parsed: PayloadHeader
    do { parsed = try PayloadHeader(parsing: bytes) } catch { invariantFailure("header re-parse failed: \(error)") }
    invariant(parsed == header, "decoded header differs from a re-parse of the same bytes")
    do {
        let again = try PayloadHeader(parsing: header.encoded())
        invariant(again == header, "header does not survive encoded() + parsing")
    } catch {
        invariantFailure("encoded header does not parse: \(error)")
    }
    invariant(header.version == PayloadHeader.currentVersion)
    invariant(Int(header.columnCount) >= PayloadBuilder.columnCount, "accepted ncols \(header.columnCount) < 9")
    invariant(Int(header.expandedSize) <= fuzzLimits.maxExpandedSize, "accepted expanded_size over the limit")
    invariant(Int(header.rowCount) <= fuzzLimits.maxRows, "accepted nrows over the limit")
    invariant(changes.count == Int(header.rowCount), "\(changes.count) changes for nrows \(header.rowCount)")

    // Each row: a valid primary key, a 16-byte site id.
    for change in changes {
        invariant(change.siteID.count == 16, "site_id of \(change.siteID.count) bytes accepted")
        do {
            let values = try PrimaryKeyCodec.decode(change.pk)
            invariant(!values.isEmpty && values.count == Int(change.pk[0]), "pk value count mismatch")
        } catch {
            invariantFailure("accepted pk 0x\(Hex.encode(change.pk)) does not decode: \(error.message)")
        }
    }

    // Re-encode and decode again: the same changes (REALs compared bit for bit) and header fields.
    let libraryVersion = (header.libraryVersion.major, header.libraryVersion.minor, header.libraryVersion.patch)
    let first = build(changes, schemaHash: header.schemaHash, libraryVersion: libraryVersion)
    let redecoded: (header: PayloadHeader, changes: [Change])
    do {
        // The re-encoded payload is derived from accepted input, so default limits are safe here
        // (a raw body that was under maxPayloadSize may come back compressed).
        redecoded = try PayloadDecoder.decode(first)
    } catch {
        invariantFailure("re-encoded payload does not decode: \(error.message)")
    }
    invariant(redecoded.header.schemaHash == header.schemaHash, "schema hash lost in round trip")
    invariant(redecoded.header.libraryVersion == header.libraryVersion, "library version lost in round trip")
    invariant(Int(redecoded.header.columnCount) == PayloadBuilder.columnCount)
    invariant(redecoded.header.rowCount == header.rowCount, "row count changed in round trip")
    invariant(redecoded.changes.count == changes.count)
    for (a, b) in zip(changes, redecoded.changes) {
        invariant(sameChange(a, b), "change differs after re-encoding:\n  \(a)\n  \(b)")
    }
    // Encoding is deterministic, so the second encoding is byte-identical to the first.
    let second = build(redecoded.changes, schemaHash: header.schemaHash, libraryVersion: libraryVersion)
    invariant(first == second, "re-encoding a decoded payload is not idempotent")
}

private func build(_ changes: [Change], schemaHash: UInt64, libraryVersion: (UInt8, UInt8, UInt8)) -> [UInt8] {
    var builder = PayloadBuilder()
    for change in changes { builder.append(change) }
    return builder.finish(schemaHash: schemaHash, libraryVersion: libraryVersion)
}

// MARK: Primary-key blob

private func checkPrimaryKey(_ blob: [UInt8]) {
    // value(at:in:) on any input: throws misuse for a position outside 1...count, else reads.
    let count = blob.first.map(Int.init) ?? 0
    for position in [0, 1, count, count + 1] {
        do {
            _ = try PrimaryKeyCodec.value(at: position, in: blob)
            invariant(position >= 1 && position <= count, "value(at: \(position)) of a \(count)-value key succeeded")
        } catch {
            invariant(error.code == .malformedPayload || error.code == .misuse, "value(at:) threw \(error.code)")
        }
    }

    let values: [SQLValue]
    do {
        values = try PrimaryKeyCodec.decode(blob)
    } catch {
        invariant(error.code == .malformedPayload, "pk decode threw unexpected code \(error.code)")
        return
    }
    // value(at:in:) agrees with decode (first 16 positions and the last; each call is O(n)).
    for position in Array(1...min(values.count, 16)) + [values.count] {
        do {
            let value = try PrimaryKeyCodec.value(at: position, in: blob)
            invariant(sameValue(value, values[position - 1]), "value(at: \(position)) differs from decode")
        } catch {
            invariantFailure("value(at: \(position)) of a valid pk threw: \(error.message)")
        }
    }
    invariant(!blob.isEmpty && values.count == Int(blob[0]) && !values.isEmpty)
    let encoded: [UInt8]
    do { encoded = try PrimaryKeyCodec.encode(values) } catch { invariantFailure("decoded pk does not encode: \(error)") }
    // Canonical: without REALs (a type-7 REAL holding zero, NaN or a sign bit is accepted but
    // written back as type 2), an accepted blob is exactly what the encoder writes.
    if !values.contains(where: { if case .real = $0 { true } else { false } }) {
        invariant(encoded == blob, "pk 0x\(Hex.encode(blob)) is accepted but not canonical")
    }
    do {
        let again = try PrimaryKeyCodec.decode(encoded)
        invariant(again.count == values.count && zip(again, values).allSatisfy(sameValue), "pk round trip")
    } catch {
        invariantFailure("re-encoded pk does not decode: \(error)")
    }
}

// MARK: Bare values (ByteReader / ByteWriter)

private func checkValues(_ bytes: [UInt8]) {
    var reader = ByteReader(bytes)
    var count = 0
    while !reader.isAtEnd, count < 4096 {
        let start = reader.offset
        let value: SQLValue
        do { value = try reader.readValue() } catch { return }
        count += 1
        let end = reader.offset
        invariant(end > start && end <= bytes.count, "reader offset moved from \(start) to \(end)")
        var writer = ByteWriter()
        writer.append(value)
        if case .real = value {
            invariant(writer.count == 9 && end - start == 9)
        } else {
            invariant(writer.bytes[...] == bytes[start..<end], "value at \(start) accepted but not canonical")
        }
        var back = ByteReader(writer.bytes)
        do {
            let again = try back.readValue()
            invariant(sameValue(again, value) && back.isAtEnd, "value round trip at \(start)")
        } catch {
            invariantFailure("written value does not read back: \(error)")
        }
    }
}

// MARK: Checks

/// `precondition`, except that it prints its message first: with -O, Swift drops the message of
/// a failed `precondition`, and the fuzzer disables the Swift backtracer (it conflicts with ASan).
@inline(__always)
private func invariant(_ condition: Bool, _ message: @autoclosure () -> String = "", line: UInt = #line) {
    if !condition { invariantFailure(message(), line: line) }
}

@inline(never)
private func invariantFailure(_ message: String, line: UInt = #line) -> Never {
    fputs("PayloadDecoderFuzz.swift:\(line): invariant violated: \(message)\n", stderr)
    fflush(stderr)
    preconditionFailure(message)
}

// MARK: Comparison (byte-exact: names by UTF-8 bytes, REALs by bit pattern, so NaN equals itself
// and -0.0 differs from +0.0)

private func sameValue(_ a: SQLValue, _ b: SQLValue) -> Bool {
    switch (a, b) {
    case (.real(let x), .real(let y)): x.bitPattern == y.bitPattern
    case (.real, _), (_, .real): false
    default: a == b
    }
}

private func sameChange(_ a: Change, _ b: Change) -> Bool {
    a.table.utf8.elementsEqual(b.table.utf8) && a.pk == b.pk && a.column.utf8.elementsEqual(b.column.utf8)
        && sameValue(a.value, b.value)
        && a.colVersion == b.colVersion && a.dbVersion == b.dbVersion && a.siteID == b.siteID
        && a.causalLength == b.causalLength && a.seq == b.seq
}
