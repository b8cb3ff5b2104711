import CloudSyncCore

/// How the client reads protocol v2's JSON answers (sync-protocol-v2.md §5–§7).
extension SyncStateMachine {
    /// The request header naming the `/check` answers the client reads (§3).
    static let v2CapabilitiesHeader = "X-CloudSync-Capabilities"

    /// One chunk of a v2 check answer.
    enum Chunk: Sendable, Equatable {
        /// Inline: the payload itself.
        case payload([UInt8])
        /// Behind a download URL (no credential).
        case url(String)
    }

    /// The object an answer holds (inside a top-level `data` object when there is one), nil
    /// for an empty body; an error when the body is not a JSON object.
    static func jsonAnswer(_ response: HTTPResponse, while step: String) throws(CloudSyncError) -> JSONValue? {
        guard response.body.contains(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else { return nil }
        guard let json = JSONValue(parsing: response.body), json.isObject else {
            throw CloudSyncError(.network, "the server answered \(step) with \"\(response.text.trimmed.prefix(80))\", not a JSON object")
        }
        if let data = json["data"], data.isObject { return data }
        return json
    }

    /// An absolute URL member, or a `.network` error starting with `missing`.
    static func url(in value: JSONValue?, otherwise missing: String) throws(CloudSyncError) -> String {
        guard let text = value?.string, isURL(text) else {
            throw CloudSyncError(.network, "\(missing) (\(value.map { "\"url\" is \($0)" } ?? "no \"url\" member"))")
        }
        return text
    }

    /// Checks an `/apply` answer's status object. The 2xx status is the confirmation; a
    /// `lastOptimisticVersion` below the announced window says the server did not record it,
    /// and the page is sent again rather than trusted.
    static func confirm(_ window: ClosedRange<Int64>, by status: JSONValue?) throws(CloudSyncError) {
        guard let member = status?["lastOptimisticVersion"] else { return }
        guard let version = member.integer else {
            throw CloudSyncError(.network, "the server's apply answer has a \"lastOptimisticVersion\" that is not an integer (\(member))")
        }
        guard version >= window.upperBound else {
            throw CloudSyncError(.network, "the server accepted the upload only up to version \(version), below the window's end \(window.upperBound); it is sent again next time")
        }
    }

    /// The chunks of a `/check` answer, in order; empty when nothing is ready (an empty body,
    /// a 202 or any status object, an empty `chunks` array). A single `url` or `payload`
    /// answer is one chunk. A `failures.check` that is not retryable is an error.
    static func chunks(in response: HTTPResponse) throws(CloudSyncError) -> [Chunk] {
        guard let answer = try jsonAnswer(response, while: "the check") else { return [] }
        if let failure = answer["failures"]?["check"], failure.isObject, failure["retryable"]?.bool == false {
            let code = failure["code"]?.string ?? "?"
            throw CloudSyncError(.network, "the server rejected the check (not retryable): \(code) - \(failure["message"]?.string ?? "")")
        }
        if let list = answer["chunks"] {
            guard let items = list.array else { throw CloudSyncError(.network, "the server's check answer has \"chunks\" that is not an array") }
            var chunks: [Chunk] = []
            for item in items {
                guard item.isObject else { throw CloudSyncError(.network, "the server's check answer has a chunk that is not an object") }
                guard let chunk = try chunk(item) else {
                    throw CloudSyncError(.network, "the server's check answer has a chunk without \"url\" or \"payload\"")
                }
                chunks.append(chunk)
            }
            return chunks
        }
        return try chunk(answer).map { [$0] } ?? []
    }

    /// The chunk an object holds (`url` or base64 `payload`), nil when it holds neither.
    private static func chunk(_ object: JSONValue) throws(CloudSyncError) -> Chunk? {
        if let url = object["url"] {
            return .url(try Self.url(in: url, otherwise: "the server's check answer has no usable download URL"))
        }
        if let payload = object["payload"] {
            guard let text = payload.string, let bytes = Base64.decode(text) else {
                throw CloudSyncError(.network, "the server's check answer has a \"payload\" that is not standard base64")
            }
            return .payload(bytes)
        }
        return nil
    }
}
