import Foundation
import CloudSyncCore

/// The body of `POST .../apply` (sync-protocol-v2.md §5.1): the payload, as a blob URL this
/// server issued or inline base64, and the `db_version` window it covers.
struct V2ApplyRequest: Equatable, Sendable {
    enum Source: Equatable, Sendable {
        /// `{"url": ...}`: a blob URL the payload was PUT to.
        case url(String)
        /// `{"blob": ...}`: the payload itself.
        case blob([UInt8])
    }

    static let shape = #"{"url" or "blob", "dbVersionMin", "dbVersionMax"}"#

    var source: Source
    /// The versions of the site this payload covers (every announced version counts).
    var window: ClosedRange<Int64>

    init(source: Source, window: ClosedRange<Int64>) {
        self.source = source
        self.window = window
    }

    /// Every member optional: which are required is checked after decoding.
    private struct Members: Decodable {
        var url: String?
        var blob: String?
        var dbVersionMin: Int64?
        var dbVersionMax: Int64?
    }

    init(json bytes: some Collection<UInt8>) throws(V2RequestError) {
        let body = try V2JSONBody.decode(Members.self, from: bytes, expecting: Self.shape)
        switch (body.url, body.blob) {
        case (let url?, nil):
            source = .url(url)
        case (nil, let blob?):
            source = .blob(try Self.decodeBase64(blob))
        case (.some, .some):
            throw V2RequestError(.invalidMember, "send either \"url\" or \"blob\", not both")
        case (nil, nil):
            throw V2RequestError(.missingMember, "missing \"url\" or \"blob\": expected \(Self.shape)")
        }
        let low = try V2JSONBody.require(body.dbVersionMin, "dbVersionMin")
        let high = try V2JSONBody.require(body.dbVersionMax, "dbVersionMax")
        guard low <= high else {
            throw V2RequestError(.invalidMember, "\"dbVersionMin\" (\(low)) is above \"dbVersionMax\" (\(high))")
        }
        window = low...high
    }

    /// Standard base64 (RFC 4648 alphabet, `=` padding, whitespace ignored).
    static func decodeBase64(_ text: String) throws(V2RequestError) -> [UInt8] {
        guard let bytes = Base64.decode(text) else {
            throw V2RequestError(.invalidBase64, "\"blob\" is not standard base64 (RFC 4648 alphabet with = padding)")
        }
        return bytes
    }
}
