/// The body of `POST .../check` (sync-protocol-v2.md §6.1).
struct V2CheckRequest: Equatable, Sendable {
    static let shape = #"{"dbVersion", "seq"[, "cursor", "maxChunks"]}"#

    /// The client's receive cursor.
    var dbVersion: Int64
    var seq: Int64
    /// The page index in the stream after `dbVersion` (1.1.x); 0 starts a stream.
    var pageCursor: Int64
    /// The most chunk objects the answer may hold (1.1.x); nil: no cap.
    var maxChunks: Int64?

    init(dbVersion: Int64, seq: Int64, pageCursor: Int64 = 0, maxChunks: Int64? = nil) {
        self.dbVersion = dbVersion
        self.seq = seq
        self.pageCursor = pageCursor
        self.maxChunks = maxChunks
    }

    /// Every member optional: which are required is checked after decoding.
    private struct Members: Decodable {
        var dbVersion: Int64?
        var seq: Int64?
        var cursor: Int64?
        var maxChunks: Int64?
    }

    init(json bytes: some Collection<UInt8>) throws(V2RequestError) {
        let body = try V2JSONBody.decode(Members.self, from: bytes, expecting: Self.shape)
        dbVersion = try V2JSONBody.require(body.dbVersion, "dbVersion")
        seq = try V2JSONBody.require(body.seq, "seq")
        pageCursor = 0
        if let cursor = body.cursor { pageCursor = try V2JSONBody.check(cursor, "cursor") }
        maxChunks = nil
        // 0 is read as "no cap", as the client's own default.
        if let cap = body.maxChunks, try V2JSONBody.check(cap, "maxChunks") > 0 { maxChunks = cap }
    }
}
