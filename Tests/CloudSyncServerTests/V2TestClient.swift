import CloudSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting

@testable import CloudSyncServer

/// A sqlite-sync 1.x client written from sync-protocol-v2.md, not from the server: its
/// requests (§5.1, §6.1), its way of reading answers (§4: the first occurrence of a field name
/// anywhere in the document; at most 64 tokens for 1.0.12), and its cursors (§5.3, §6.3), over
/// a local engine database (`Device`).
///
/// Two generations: `.v1_0_12` (always an upload URL, legacy `/check` answers only, no
/// version header) and `.v1_1` (inline payloads up to 128 KiB, `check-chunks` and
/// `check-status-response`, drains every page).
final class V2TestClient: @unchecked Sendable {
    enum Generation: String, Sendable, CaseIterable { case v1_0_12, v1_1 }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    let device: Device
    let generation: Generation
    let database: String
    var credential: String?
    /// `send_dbversion`.
    var sendVersion: Int64 = 0
    /// `check_dbversion`, `check_seq`.
    var checkVersion: Int64 = 0
    var checkSeq: Int64 = 0
    /// 1.1.x's in-memory page index.
    var pageCursor: Int64 = 0
    /// The `failures.apply` object of the last `/apply` answer, as raw JSON, if any.
    var lastSendFailure: [String: Any]?

    init(_ device: Device, _ generation: Generation, database: String, credential: String?) {
        self.device = device
        self.generation = generation
        self.database = database
        self.credential = credential
    }

    var site: String { device.siteHex }
    var base: String { "/v2/cloudsync/databases/\(database)/\(site)" }

    // MARK: HTTP

    func headers(json: Bool, check: Bool = false) -> HTTPFields {
        var headers = HTTPFields()
        if let credential { headers[.authorization] = "Bearer \(credential)" }
        if json { headers[.contentType] = "application/json" }
        switch generation {
        case .v1_0_12:
            headers[.accept] = "sqlc/plain"
        case .v1_1:
            headers[HTTPField.Name("X-CloudSync-Version")!] = "1.1.4"
            if check { headers[HTTPField.Name("X-CloudSync-Capabilities")!] = "check-status-response, check-chunks" }
        }
        return headers
    }

    func call(_ client: any TestClientProtocol, _ action: String, _ method: HTTPRequest.Method, json: String? = nil, check: Bool = false) async throws -> TestResponse {
        let response = try await client.executeRequest(
            uri: base + "/" + action, method: method, headers: headers(json: json != nil, check: check), body: json.map { ByteBuffer(string: $0) })
        // 1.0.12 cannot parse an answer of more than 64 tokens.
        if generation == .v1_0_12, response.status.code < 400, !response.body.readableBytesView.isEmpty, JSONTokens.count(response.text) > 64 {
            throw Failure("\(action): answer of \(JSONTokens.count(response.text)) tokens: \(response.text.prefix(200))")
        }
        return response
    }

    func download(_ client: any TestClientProtocol, _ url: String) async throws -> [UInt8] {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw Failure("download URL is not absolute: \(url)") }
        let response = try await client.executeRequest(uri: path(of: url), method: .get, headers: [:], body: nil)
        guard response.status.code < 400 else { throw Failure("download: \(response.status) \(response.text)") }
        return response.bytes
    }

    // MARK: Sending (§5)

    /// One `cloudsync_network_send_changes()`. Returns the answer the cursor came from, if any.
    @discardableResult
    func send(_ client: any TestClientProtocol) async throws -> String? {
        guard let pending = try device.context.encodePayload(
            where: [.site(device.site, equal: true), .dbVersionAfter(sendVersion)], format: .v2)
        else {
            guard sendVersion > 0 else { return nil }
            let status = try await call(client, "status", .get)
            guard status.status.code < 400 else { throw Failure("status: \(status.status) \(status.text)") }
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
            let upload = try await call(client, "upload", .get)
            guard upload.status.code < 400 else { throw Failure("upload: \(upload.status) \(upload.text)") }
            guard let url = V2Fields.string("url", in: upload.text) else { throw Failure("missing 'url' in upload response: \(upload.text)") }
            let put = try await client.executeRequest(
                uri: path(of: url), method: .put,
                headers: [.accept: "text/plain", .contentType: "application/octet-stream"], body: ByteBuffer(bytes: pending.payload))
            guard put.status.code < 400 else { throw Failure("PUT: \(put.status) \(put.text)") }
            body = #"{"url":"\#(url)", "dbVersionMin":\#(low), "dbVersionMax":\#(high)}"#
        }
        let applied = try await call(client, "apply", .post, json: body)
        guard applied.status.code < 400 else { throw Failure("apply: \(applied.status) \(applied.text)") }
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
    func receive(_ client: any TestClientProtocol) async throws -> Int {
        var rows = 0
        for _ in 0..<1000 {
            let (applied, more) = try await checkOnce(client)
            rows += applied
            guard generation == .v1_1, more else { return rows }
        }
        throw Failure("more than 1000 pages")
    }

    /// One `/check` and what it leads to. `more` is true when a page was applied.
    private func checkOnce(_ client: any TestClientProtocol) async throws -> (rows: Int, more: Bool) {
        let body = switch generation {
        case .v1_0_12: #"{"dbVersion":\#(checkVersion), "seq":\#(checkSeq)}"#
        case .v1_1: #"{"dbVersion":\#(checkVersion), "seq":\#(checkSeq), "cursor":\#(pageCursor)}"#
        }
        let answer = try await call(client, "check", .post, json: body, check: true)
        do {
            guard answer.status.code < 400 else { throw Failure("check: \(answer.status) \(answer.text)") }
            let text = answer.text
            if text.isEmpty { return (0, false) }
            switch generation {
            case .v1_0_12:
                guard answer.status == .ok, let url = V2Fields.string("url", in: text) else {
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
    private func readAnswer(_ client: any TestClientProtocol, _ text: String) async throws -> (rows: Int, more: Bool) {
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

    private func chunkPayload(_ client: any TestClientProtocol, _ object: [String: Any]) async throws -> [UInt8] {
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
        try device.context.applyPayload(payload)
        return changes
    }
}

/// Field lookup as 1.0.12 does it (sync-protocol-v2.md §4): the first JSON string equal to the
/// name, anywhere in the document, and the token after it.
enum V2Fields {
    static func integer(_ name: String, in json: String) -> Int64? {
        guard let value = valueStart(name, json) else { return nil }
        let digits = value.prefix { $0 == "-" || $0.isNumber }
        return Int64(digits)
    }

    static func string(_ name: String, in json: String) -> String? {
        guard let value = valueStart(name, json), value.first == "\"" else { return nil }
        var out = ""
        var escaped = false
        for character in value.dropFirst() {
            if escaped {
                out.append(character == "n" ? "\n" : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return out
            } else {
                out.append(character)
            }
        }
        return nil
    }

    private static func valueStart(_ name: String, _ json: String) -> Substring? {
        guard let key = json.range(of: "\"\(name)\"") else { return nil }
        var rest = json[key.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        return rest
    }
}
