import CloudSyncCore
import HTTPTypes

/// How one `/check` is answered (sync-protocol-v2.md §6.2, §11), decided from the request and
/// the capabilities the client announced.
///
/// Every stream this server gives is one page long: the page after the client's cursor, which
/// ends on a whole server db_version, is the stream's final chunk and its last version the
/// watermark. Page cursors other than 0 are therefore never announced, and any page can be
/// served again after a restart (the same cursor gives the same page).
struct V2CheckAnswer: Sendable {
    struct Answer: Equatable, Sendable {
        var status: HTTPResponse.Status
        /// JSON, or nil for an empty body.
        var body: String?
    }

    let request: V2CheckRequest
    let capabilities: V2Capabilities
    /// The largest page inlined: 128 KiB (§11.2), or more for a client that asked with
    /// `Cloudsync-Inline-Max` (this project's clients, as on v1) within the server's
    /// `maxInlinePayload`.
    let inlineLimit: Int

    init(request: V2CheckRequest, capabilities: V2Capabilities, requestedInline: Int? = nil, serverInlineMaximum: Int = 0) {
        self.request = request
        self.capabilities = capabilities
        inlineLimit = max(V2Answer.inlineLimit, min(requestedInline ?? 0, serverInlineMaximum))
    }

    /// Where the page starts. A chunk-capable client (1.1.x) resumes on db_version alone: after
    /// a watermark its seq is 0, and rows of that version must not come again. Other clients
    /// name the last row they applied, as v1 clients do, and so do this project's clients
    /// (`exactCursor`), whose cursor may lie inside a version.
    var cursor: SyncCursor {
        SyncCursor(dbVersion: request.dbVersion, seq: capabilities.chunks && !capabilities.exactCursor ? .max : request.seq)
    }

    /// The cursor this client sends for the page after `page`: its last change, or for a
    /// client that resumes on versions, after the page's whole last version.
    func cursor(after page: ChangesPage) -> SyncCursor {
        SyncCursor(dbVersion: page.last.dbVersion, seq: cursor.seq == .max ? .max : page.last.seq)
    }

    /// Why the request cannot be answered: a page cursor this server never announced.
    var refusal: String? {
        guard request.pageCursor != 0 else { return nil }
        return "page cursor \(request.pageCursor) is unknown: this server's streams hold one page; check again with cursor 0"
    }

    /// Whether a page travels inside the answer rather than behind a download URL.
    func inlines(_ payload: [UInt8]) -> Bool {
        capabilities.chunks && payload.count <= inlineLimit
    }

    /// The answer for a page: inline when `url` is nil (see `inlines`), else the URL.
    func answer(page payload: [UInt8], url: String?, watermark: Int64) -> Answer {
        guard capabilities.chunks else {
            // 1.0.x reads only a URL.
            return Answer(status: .ok, body: V2Answer.url(url ?? ""))
        }
        let content: V2Answer.ChunkContent = url.map { .url($0) } ?? .payload(payload)
        return Answer(status: .ok, body: V2Answer.finalChunk(cursor: 0, content, watermark: watermark))
    }

    /// The answer when nothing is new: a 202 with the status object `status` for clients
    /// that read it, else an empty 200 (1.0.12 takes any JSON without a URL for an error).
    func nothing(status: String) -> Answer {
        capabilities.statusResponse ? Answer(status: .accepted, body: status) : Answer(status: .ok, body: nil)
    }
}
