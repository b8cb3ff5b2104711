import Foundation
@testable import CloudSyncCore

/// The test vectors of `Fixtures/vectors.json`, parsed once.
enum WireVectors {
    struct ValueVector {
        var values: [SQLValue]
        var hex: String?
        var hexPrefix: String?
        var hexLength: Int?
    }

    struct SchemaVector {
        var createStatements: [String]
        var hashedText: String
        var hashUInt64: UInt64
        var hashInt64: Int64
    }

    struct PayloadVector {
        var name: String
        var schema: [String]
        var ops: [String]
        var siteID: [UInt8]
        var changes: [Change]
        var payload: [UInt8]
        var body: [UInt8]
        var version: UInt8
        var libraryVersion: (UInt8, UInt8, UInt8)
        var expandedSize: UInt32
        var ncols: UInt16
        var nrows: UInt32
        var schemaHash: UInt64
        var reserved: [UInt8]
    }

    private static func root() -> [String: Any] { fixture("vectors") }

    /// The JSON object of `Fixtures/<name>.json`.
    static func fixture(_ name: String) -> [String: Any] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { fatalError("cannot load Fixtures/\(name).json") }
        return object
    }

    static let valueEncodings: [ValueVector] = (root()["value_encoding"] as! [[String: Any]]).map { entry in
        ValueVector(
            values: (entry["values"] as! [[String: Any]]).map(value),
            hex: entry["hex"] as? String,
            hexPrefix: entry["hex_prefix"] as? String,
            hexLength: entry["hex_length"] as? Int)
    }

    static let schemaHashes: [SchemaVector] = (root()["schema_hash"] as! [[String: Any]]).map { entry in
        SchemaVector(
            createStatements: entry["create_statements"] as! [String],
            hashedText: entry["hashed_text"] as! String,
            hashUInt64: UInt64(entry["hash_uint64"] as! String)!,
            hashInt64: Int64(entry["hash_int64"] as! String)!)
    }

    static let payloads: [PayloadVector] = (root()["payloads"] as! [[String: Any]]).map { entry in
        let header = entry["header"] as! [String: Any]
        precondition(header["signature"] as! String == "CLSY")
        let lib = header["libversion"] as! [Int]
        return PayloadVector(
            name: entry["name"] as! String,
            schema: entry["schema"] as! [String],
            ops: entry["ops"] as! [String],
            siteID: Hex.decode(entry["site_id_hex"] as! String)!,
            changes: (entry["changes"] as! [[[String: Any]]]).map(change),
            payload: Hex.decode(entry["payload_hex"] as! String)!,
            body: Hex.decode(entry["body_uncompressed_hex"] as! String)!,
            version: UInt8(header["version"] as! Int),
            libraryVersion: (UInt8(lib[0]), UInt8(lib[1]), UInt8(lib[2])),
            expandedSize: UInt32(header["expanded_size"] as! Int),
            ncols: UInt16(header["ncols"] as! Int),
            nrows: UInt32(header["nrows"] as! Int),
            schemaHash: UInt64(header["schema_hash"] as! String)!,
            reserved: Hex.decode(header["reserved_hex"] as! String)!)
    }

    static func value(_ json: [String: Any]) -> SQLValue {
        switch json["type"] as! String {
        case "null": return .null
        case "integer": return .integer(Int64(json["value"] as! String)!)
        case "real": return .real(Double(json["value"] as! String)!)
        case "text":
            if let text = json["value"] as? String { return .string(text) }
            let unit = json["repeat"] as! String
            return .string(String(repeating: unit, count: json["count"] as! Int))
        case "blob": return .blob(Hex.decode(json["hex"] as! String)!)
        case let other: fatalError("unknown value type \(other)")
        }
    }

    static func change(_ row: [[String: Any]]) -> Change {
        precondition(row.count == 9)
        let v = row.map(value)
        guard case .text(let table) = v[0], case .blob(let pk) = v[1], case .text(let column) = v[2],
            case .integer(let colVersion) = v[4], case .integer(let dbVersion) = v[5],
            case .blob(let siteID) = v[6], case .integer(let cl) = v[7], case .integer(let seq) = v[8]
        else { fatalError("bad change row in vectors.json") }
        return Change(
            table: String(decoding: table, as: UTF8.self), pk: pk, column: String(decoding: column, as: UTF8.self),
            value: v[3], colVersion: colVersion, dbVersion: dbVersion, siteID: siteID, causalLength: cl, seq: seq)
    }
}

/// Test helpers for building and patching payloads.
enum WirePayloads {
    /// `payload` with `bytes` written at `offset`.
    static func patched(_ payload: [UInt8], at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
        var copy = payload
        copy.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        return copy
    }

    static func bigEndian(_ v: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64(count - 1 - $0))) }
    }

    /// An uncompressed payload holding `body` as it is.
    static func raw(body: [UInt8], ncols: UInt16 = 9, nrows: UInt32, schemaHash: UInt64 = 42) -> [UInt8] {
        let header = PayloadHeader(
            libraryVersion: (0, 1, 0), expandedSize: 0, columnCount: ncols, rowCount: nrows, schemaHash: schemaHash)
        return header.encoded() + body
    }

    /// The error `decode` throws for `payload`, or nil if it decodes.
    static func decodeError(_ payload: [UInt8], limits: PayloadLimits = .default) -> CloudSyncError? {
        do {
            _ = try PayloadDecoder.decode(payload, limits: limits)
            return nil
        } catch {
            return error
        }
    }
}
