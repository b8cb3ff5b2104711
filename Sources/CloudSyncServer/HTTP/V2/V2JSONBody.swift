import Foundation

/// Decodes a protocol-v2 request body: a JSON object whose unknown members are ignored
/// (1.1.x adds `batchId`, `chunkIndex`, `isFinal`). `Members` declares every member optional;
/// the request type checks which are required.
enum V2JSONBody {
    /// The largest integer accepted: clients send 32-bit numbers, and window arithmetic must
    /// not overflow.
    static let maxInteger: Int64 = 1 << 53

    static func decode<Members: Decodable>(_ type: Members.Type, from bytes: some Collection<UInt8>, expecting shape: String) throws(V2RequestError) -> Members {
        do {
            return try JSONDecoder().decode(Members.self, from: Data(bytes))
        } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
            throw V2RequestError(.invalidMember, "\(name(context)) has the wrong type: expected \(shape)")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            throw V2RequestError(.invalidMember, "\(name(context)) is not valid: expected \(shape)")
        } catch {
            throw V2RequestError(.malformedJSON, "expected a JSON object \(shape)")
        }
    }

    private static func name(_ context: DecodingError.Context) -> String {
        context.codingPath.last.map { "\"\($0.stringValue)\"" } ?? "the body"
    }

    /// `value` when present and within 0…`maxInteger`.
    static func require(_ value: Int64?, _ name: String) throws(V2RequestError) -> Int64 {
        guard let value else { throw V2RequestError(.missingMember, "missing \"\(name)\"") }
        return try check(value, name)
    }

    static func check(_ value: Int64, _ name: String) throws(V2RequestError) -> Int64 {
        guard value >= 0, value <= maxInteger else {
            throw V2RequestError(.invalidMember, "\"\(name)\" must be a whole number from 0 to \(maxInteger)")
        }
        return value
    }
}
