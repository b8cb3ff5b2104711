import CloudSyncCore
import Foundation

/// The JSON answers of protocol v2 (sync-protocol-v2.md §4–§7), written by hand so that
/// member order is fixed: the fields clients look for come first, each name appears once,
/// and no field name is used as a string value. Every answer is far below the 64 tokens
/// 1.0.12 can parse.
enum V2Answer {
    /// Payloads up to this size travel inline in chunk answers (§11.2, the clients' own
    /// inline threshold).
    static let inlineLimit = 131_072
    /// 1.0.12 formats the `/apply` body into a 4 KiB buffer without escaping the URL (§4).
    static let maxURLBytes = 3_900

    /// What went wrong with an accepted `/apply`, shown to 1.1.x clients as
    /// `send.lastFailure` (§7).
    struct Failure: Equatable, Sendable {
        var code: String
        var message: String
        var retryable: Bool
        /// ISO 8601 time.
        var failedAt: String
    }

    /// What one chunk of a check answer carries.
    enum ChunkContent: Equatable, Sendable {
        case payload([UInt8])
        case url(String)
    }

    /// `GET upload` and legacy `/check`: `{"url":"..."}`.
    static func url(_ url: String) -> String {
        #"{"url":"# + quoted(url) + "}"
    }

    /// The status object (§7) of a site whose accepted windows end their contiguous prefix at
    /// `version`. The server merges synchronously: confirmed = optimistic, no gaps.
    static func status(version: Int64, applyFailure: Failure? = nil) -> String {
        var json = #"{"lastOptimisticVersion":\#(version),"lastConfirmedVersion":\#(version),"gaps":[]"#
        if let failure = applyFailure {
            json += #","failures":{"apply":{"code":"# + quoted(failure.code) + #","message":"# + quoted(failure.message)
                + #","retryable":\#(failure.retryable),"failedAt":"# + quoted(failure.failedAt) + "}}"
        }
        return json + "}"
    }

    /// A chunk batch of one chunk that completes the stream (§6.2): `final` and `nextCursor`
    /// first, then the chunk with the stream's watermark.
    static func finalChunk(cursor: Int64, _ content: ChunkContent, watermark: Int64) -> String {
        var chunk = #"{"cursor":\#(cursor),"#
        switch content {
        case .payload(let bytes): chunk += #""payload":"# + quoted(Base64.encode(bytes))
        case .url(let url): chunk += #""url":"# + quoted(url)
        }
        chunk += #","watermark":\#(watermark)}"#
        return #"{"data":{"final":true,"nextCursor":0,"chunks":["# + chunk + "]}}"
    }

    /// Absolute http(s) URL, ASCII without `"` or `\`, short enough (§4).
    static func isUsableURL(_ url: String) -> Bool {
        url.utf8.count < maxURLBytes && (url.hasPrefix("http://") || url.hasPrefix("https://"))
            && url.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// A JSON string literal (see `JSONText`).
    static func quoted(_ text: String) -> String {
        JSONText.string(text)
    }
}

extension V2Answer.Failure {
    /// The failure to report for a merge that left rows out: those Row-Level Security refused
    /// (as v1 reports in `Cloudsync-Denied`) and those a constraint refused. Not retryable:
    /// sending the same rows again is refused again.
    static func apply(_ result: MergeResult, failedAt: String) -> V2Answer.Failure? {
        var parts: [String] = []
        if !result.denied.isEmpty {
            let rows = result.denied.map(\.rows).reduce(0, +)
            parts.append("Row-Level Security refused \(rows) row\(rows == 1 ? "" : "s") (" + result.denied.map { "\($0.table): \($0.rows)" }.joined(separator: ", ") + ")")
        }
        if !result.failedRows.isEmpty {
            parts.append("\(result.failedRows.count) row\(result.failedRows.count == 1 ? "" : "s") failed a constraint (" + result.failedRows.prefix(3).joined(separator: "; ") + ")")
        }
        guard !parts.isEmpty else { return nil }
        return V2Answer.Failure(
            code: result.denied.isEmpty ? "constraint_failed" : "rls_denied", message: parts.joined(separator: "; "),
            retryable: false, failedAt: failedAt)
    }
}
