import CloudSyncNetwork
import CloudSyncCore
import Foundation

/// A sqlite-sync 1.x client written from sync-protocol-v2.md, not from the server: its
/// requests (§5.1, §6.1), its way of reading answers (§4: the first occurrence of a field name
/// anywhere in the document; at most 64 tokens for 1.0.12), and its cursors (§5.3, §6.3), over
/// a local engine database.
///
/// Two generations: `.v1_0_12` (always an upload URL, legacy `/check` answers only, no
/// version header) and `.v1_1` (inline payloads up to 128 KiB, `check-chunks` and
/// `check-status-response`, drains every page).
open class V2TestClient: @unchecked Sendable {
    public enum Generation: String, Sendable, CaseIterable { case v1_0_12, v1_1 }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The local database (the engine registered on it, its tables synchronized).
    public let context: SyncContext
    public let generation: Generation
    /// `cloudsync_network_init_custom(address, database)`.
    public let address: String
    public let database: String
    public var credential: String?
    /// `send_dbversion`.
    public var sendVersion: Int64 = 0
    /// `check_dbversion`, `check_seq`.
    public var checkVersion: Int64 = 0
    public var checkSeq: Int64 = 0
    /// 1.1.x's in-memory page index.
    public var pageCursor: Int64 = 0
    /// The `failures.apply` object of the last `/apply` answer, as raw JSON, if any.
    public var lastSendFailure: [String: Any]?
    private let siteID: [UInt8]

    public init(_ context: SyncContext, _ generation: Generation, address: String = "", database: String, credential: String?) throws {
        self.context = context
        self.generation = generation
        self.address = address
        self.database = database
        self.credential = credential
        siteID = try context.siteID()
    }

    public var site: String { Hex.encode(siteID) }
    var base: String { address + "/v2/cloudsync/databases/\(database)/\(site)" }

    // MARK: HTTP

    func headers(json: Bool, check: Bool = false) -> [(String, String)] {
        var headers: [(String, String)] = []
        if let credential { headers.append(("Authorization", "Bearer \(credential)")) }
        if json { headers.append(("Content-Type", "application/json")) }
        switch generation {
        case .v1_0_12:
            headers.append(("Accept", "sqlc/plain"))
        case .v1_1:
            headers.append(("X-CloudSync-Version", "1.1.4"))
            if check { headers.append(("X-CloudSync-Capabilities", "check-status-response, check-chunks")) }
        }
        return headers
    }

    /// One API request: `action` is upload, apply, check or status.
    public func call(_ client: any V2ClientTransport, _ action: String, _ method: String, json: String? = nil, check: Bool = false) async throws -> HTTPResponse {
        let response = try await client.send(method: method, url: base + "/" + action, headers: headers(json: json != nil, check: check), body: json.map { Array($0.utf8) })
        // 1.0.12 cannot parse an answer of more than 64 tokens.
        if generation == .v1_0_12, response.status < 400, !response.body.isEmpty, JSONTokens.count(response.text) > 64 {
            throw Failure("\(action): answer of \(JSONTokens.count(response.text)) tokens: \(response.text.prefix(200))")
        }
        return response
    }

    /// GET of a download URL, without credential.
    public func download(_ client: any V2ClientTransport, _ url: String) async throws -> [UInt8] {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw Failure("download URL is not absolute: \(url)") }
        let response = try await client.send(method: "GET", url: url, headers: [], body: nil)
        guard response.status < 400 else { throw Failure("download: \(response.status) \(response.text)") }
        return response.body
    }

    // MARK: Sending (§5)

    /// One `cloudsync_network_send_changes()`. Returns the answer the cursor came from, if any.
    @discardableResult
    public func send(_ client: any V2ClientTransport) async throws -> String? {
        guard let pending = try context.encodePayload(
            where: [.site(siteID, equal: true), .dbVersionAfter(sendVersion)], format: .v2)
        else {
            guard sendVersion > 0 else { return nil }
            let status = try await call(client, "status", "GET")
            guard status.status < 400 else { throw Failure("status: \(status.status) \(status.text)") }
            adoptCursor(from: status.text, fallback: sendVersion)
            return status.text
        }
        let high = pending.lastDbVersion
        let low: Int64
        switch generation {
        case .v1_0_12: low = min(sendVersion + 1, high)
        case .v1_1: low = min(sendVersion + 1, try PayloadDecoder.decode(pending.payload).changes.first?.dbVersion ?? high)
        }
        let body: String
        if generation == .v1_1, pending.payload.count <= 131_072 {
            body = #"{"blob":"\#(Data(pending.payload).base64EncodedString())", "dbVersionMin":\#(low), "dbVersionMax":\#(high), "batchId":"b\#(UUID().uuidString)", "chunkIndex":0, "isFinal":true}"#
        } else {
            let upload = try await call(client, "upload", "GET")
            guard upload.status < 400 else { throw Failure("upload: \(upload.status) \(upload.text)") }
            guard let url = V2Fields.string("url", in: upload.text) else { throw Failure("missing 'url' in upload response: \(upload.text)") }
            let put = try await client.send(
                method: "PUT", url: url, headers: [("Accept", "text/plain"), ("Content-Type", "application/octet-stream")], body: pending.payload)
            guard put.status < 400 else { throw Failure("PUT: \(put.status) \(put.text)") }
            body = #"{"url":"\#(url)", "dbVersionMin":\#(low), "dbVersionMax":\#(high)}"#
        }
        let applied = try await call(client, "apply", "POST", json: body)
        guard applied.status < 400 else { throw Failure("apply: \(applied.status) \(applied.text)") }
        adoptCursor(from: applied.text, fallback: high)
        let object = try? JSONSerialization.jsonObject(with: Data(applied.text.utf8)) as? [String: Any]
        lastSendFailure = (object?["failures"] as? [String: Any])?["apply"] as? [String: Any]
        return applied.text
    }

    /// §5.3: `lastOptimisticVersion` when present and not negative, else the fallback.
    private func adoptCursor(from answer: String, fallback: Int64) {
        if let version = V2Fields.integer("lastOptimisticVersion", in: answer), version >= 0 {
            sendVersion = version
        } else {
            sendVersion = fallback
        }
    }

    // MARK: Receiving (§6)

    /// One `cloudsync_network_check_changes()`: 1.0.12 makes one check; 1.1.x drains. Returns
    /// the number of change rows applied.
    @discardableResult
    public func receive(_ client: any V2ClientTransport) async throws -> Int {
        var rows = 0
        for _ in 0..<1000 {
            let (applied, more) = try await checkOnce(client)
            rows += applied
            guard generation == .v1_1, more else { return rows }
        }
        throw Failure("more than 1000 pages")
    }

    /// One `/check` and what it leads to. `more` is true when a page was applied.
    private func checkOnce(_ client: any V2ClientTransport) async throws -> (rows: Int, more: Bool) {
        let body = switch generation {
        case .v1_0_12: #"{"dbVersion":\#(checkVersion), "seq":\#(checkSeq)}"#
        case .v1_1: #"{"dbVersion":\#(checkVersion), "seq":\#(checkSeq), "cursor":\#(pageCursor)}"#
        }
        let answer = try await call(client, "check", "POST", json: body, check: true)
        do {
            guard answer.status < 400 else { throw Failure("check: \(answer.status) \(answer.text)") }
            let text = answer.text
            if text.isEmpty { return (0, false) }
            switch generation {
            case .v1_0_12:
                guard answer.status == 200, let url = V2Fields.string("url", in: text) else {
                    throw Failure("cloudsync_network_check_changes: missing 'url' in check response: \(answer.status) \(text.prefix(200))")
                }
                return (try applyLegacy(try await download(client, url)), true)
            case .v1_1:
                return try await readAnswer(client, text)
            }
        } catch {
            pageCursor = 0
            throw error
        }
    }

    /// 1.1.x: a chunk batch, a single URL or payload, or nothing ready.
    private func readAnswer(_ client: any V2ClientTransport, _ text: String) async throws -> (rows: Int, more: Bool) {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { throw Failure("not a JSON object: \(text)") }
        let root = (object["data"] as? [String: Any]) ?? object
        if let chunks = root["chunks"] as? [[String: Any]] {
            if chunks.isEmpty { return (0, false) }
            let final = (root["final"] as? Bool) ?? true
            var rows = 0
            for (index, chunk) in chunks.enumerated() {
                guard let cursor = chunk["cursor"] as? Int else { throw Failure("chunk without cursor: \(chunk)") }
                let payload = try await chunkPayload(client, chunk)
                rows += try applyChecked(payload).count
                pageCursor = Int64(cursor) + 1
                if final, index == chunks.count - 1 {
                    pageCursor = 0
                    guard let watermark = chunk["watermark"] as? Int else { throw Failure("final chunk without watermark") }
                    if Int64(watermark) > checkVersion {
                        checkVersion = Int64(watermark)
                        checkSeq = 0
                    }
                }
            }
            if !final, let next = root["nextCursor"] as? Int { pageCursor = Int64(next) }
            return (rows, true)
        }
        if root["url"] != nil || root["payload"] != nil {
            let payload = try await chunkPayload(client, root)
            if let watermark = root["watermark"] as? Int {
                let count = try applyChecked(payload).count
                if Int64(watermark) > checkVersion { checkVersion = Int64(watermark); checkSeq = 0 }
                return (count, true)
            }
            return (try applyLegacy(payload), true)
        }
        // A status object: nothing ready.
        return (0, false)
    }

    private func chunkPayload(_ client: any V2ClientTransport, _ object: [String: Any]) async throws -> [UInt8] {
        if let url = object["url"] as? String { return try await download(client, url) }
        guard let text = object["payload"] as? String else { throw Failure("chunk without url or payload: \(object)") }
        let compact = text.filter { !$0.isWhitespace }
        guard compact.utf8.count % 4 == 0, let data = Data(base64Encoded: compact) else { throw Failure("inline payload is not base64") }
        return Array(data)
    }

    /// Applies a payload and moves the cursor as 1.0.12 does (§6.3).
    private func applyLegacy(_ payload: [UInt8]) throws -> Int {
        let changes = try applyChecked(payload)
        if let last = changes.last, last.dbVersion >= checkVersion {
            checkVersion = last.dbVersion
            checkSeq = last.seq
        }
        return changes.count
    }

    /// Applies a payload, which must be version 2 (§6.4); the engine checks its checksum and
    /// that its schema hash is one this database knows.
    private func applyChecked(_ payload: [UInt8]) throws -> [Change] {
        guard payload.count > 4, payload[4] == 2 else { throw Failure("payload version \(payload.count > 4 ? payload[4] : 0), expected 2") }
        let changes = try PayloadDecoder.decode(payload).changes
        try context.applyPayload(payload)
        return changes
    }
}
