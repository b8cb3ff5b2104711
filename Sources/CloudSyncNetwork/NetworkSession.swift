#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CloudSyncCore

/// A connection's link to a sync server: where, with which credential, over which transport;
/// and the two halves of a sync (sync-protocol.md): sending local changes, receiving remote ones.
///
/// Not `Sendable`: belongs to one connection.
public final class NetworkSession {
    public var endpoint: ConnectionString
    public var credential: ConnectionString.Credential?
    public var transport: any HTTPTransport
    /// Changes per uploaded payload; a larger backlog goes in several.
    public var maxChangesPerUpload = 10_000
    /// Downloads per check, a bound on one call's work (the server pages its backlog).
    public var maxDownloadsPerCheck = 1_000

    unowned let context: SyncContext

    private typealias Cursor = SyncCursor.SettingKey

    public init(context: SyncContext, endpoint: ConnectionString, transport: any HTTPTransport) {
        self.context = context
        self.endpoint = endpoint
        self.credential = endpoint.credential
        self.transport = transport
    }

    // MARK: Sending

    /// Whether this database has local changes the server has not accepted yet.
    public static func hasUnsentChanges(_ context: SyncContext) throws(CloudSyncError) -> Bool {
        let (version, seq) = try cursor(context, Cursor.sendVersion, Cursor.sendSeq)
        return try context.hasChanges(where: [.site(try context.siteID(), equal: true), .after(dbVersion: version, seq: seq)])
    }

    /// Sends every local change after the send cursor, in payloads of bounded size. The cursor
    /// moves past a payload only once the server accepted it. Returns the changes sent.
    ///
    /// Throws a `.denied` error after sending everything if the server's Row-Level Security
    /// refused rows: they were not applied there, the cursor still moved past them, and the
    /// server sends its version of those rows back on the next check.
    @discardableResult
    public func sendChanges() throws(CloudSyncError) -> Int {
        let (sent, denied) = try sendAll()
        try Self.throwIfDenied(denied)
        return sent
    }

    private func sendAll() throws(CloudSyncError) -> (sent: Int, denied: [String: Int]) {
        let site = try context.siteID()
        var sent = 0
        var denied: [String: Int] = [:]
        while true {
            let (version, seq) = try Self.cursor(context, Cursor.sendVersion, Cursor.sendSeq)
            guard let page = try context.encodePayload(
                where: [.site(site, equal: true), .after(dbVersion: version, seq: seq)],
                maxChanges: maxChangesPerUpload)
            else { return (sent, denied) }
            let upload = endpoint.baseURL(site: site) + "/upload"
            let target = try expectOK(try transport.send(authorized("GET", upload)), "asking for an upload URL").text.trimmed
            guard target.hasPrefix("http://") || target.hasPrefix("https://") else {
                throw CloudSyncError(.network, "the server gave no upload URL (answered \"\(target.prefix(80))\")")
            }
            _ = try expectOK(try transport.send(HTTPRequest(
                method: "PUT", url: target, headers: [("Content-Type", "application/octet-stream")], body: page.payload)),
                "uploading changes")
            let notice = UploadNotice.body(url: target)
            let answer = try expectOK(try transport.send(authorized("POST", upload, body: notice, contentType: "application/json")), "confirming the upload")
            try context.setSetting(Cursor.sendVersion, .integer(page.lastDbVersion))
            try context.setSetting(Cursor.sendSeq, .integer(page.lastSeq))
            sent += page.count
            for report in DeniedRowsHeader.decode(answer.header(DeniedRowsHeader.name) ?? "") {
                denied[report.table, default: 0] += report.rows
            }
        }
    }

    private static func throwIfDenied(_ denied: [String: Int]) throws(CloudSyncError) {
        guard !denied.isEmpty else { return }
        let parts = denied.sorted { $0.key < $1.key }.map { "\($0.value) row\($0.value == 1 ? "" : "s") of table \($0.key)" }
        throw CloudSyncError(.denied, "the server refused \(parts.joined(separator: ", ")) (row-level security): those changes were not applied, and the server's version of the rows is sent back to this device")
    }

    // MARK: Receiving

    /// Asks for changes after the receive cursor and applies them, page by page until the
    /// server has nothing more. Returns the number of changes received.
    @discardableResult
    public func checkChanges() throws(CloudSyncError) -> Int {
        let site = try context.siteID()
        var received = 0
        for _ in 0..<maxDownloadsPerCheck {
            let (version, seq) = try Self.cursor(context, Cursor.checkVersion, Cursor.checkSeq)
            let check = endpoint.baseURL(site: site) + "/\(version)/\(seq)/check"
            let answer = try expectOK(try transport.send(authorized("POST", check)), "checking for changes").text.trimmed
            guard !answer.isEmpty else { break }
            guard answer.hasPrefix("http://") || answer.hasPrefix("https://") else {
                throw CloudSyncError(.network, "the server answered the check with \"\(answer.prefix(80))\" instead of a download URL")
            }
            let payload = try expectOK(try transport.send(HTTPRequest(method: "GET", url: answer)), "downloading changes").body
            let report = try context.applyPayload(payload)
            try context.setSetting(Cursor.checkVersion, .integer(report.lastDbVersion))
            try context.setSetting(Cursor.checkSeq, .integer(report.lastSeq))
            received += report.changes
        }
        return received
    }

    /// Sends, then checks up to `maxRetries` times `waitMilliseconds` apart until something
    /// arrives. Returns the number of changes received.
    ///
    /// Rows refused by the server's Row-Level Security are reported as a `.denied` error at the
    /// end, after the check that brings back the server's version of them.
    public func sync(waitMilliseconds: Int = 0, maxRetries: Int = 1) throws(CloudSyncError) -> Int {
        let denied = try sendAll().denied
        var received = 0
        for attempt in 0..<max(1, maxRetries) {
            if attempt > 0 && waitMilliseconds > 0 { Self.sleep(milliseconds: waitMilliseconds) }
            received = try checkChanges()
            if received > 0 { break }
        }
        try Self.throwIfDenied(denied)
        return received
    }

    /// Sets the four cursors to 0: everything is sent and received again (idempotently).
    public static func resetCursors(_ context: SyncContext) throws(CloudSyncError) {
        for key in Cursor.all { try context.setSetting(key, .integer(0)) }
    }

    // MARK: Helpers

    private func authorized(_ method: String, _ url: String, body: [UInt8] = [], contentType: String? = nil) throws(CloudSyncError) -> HTTPRequest {
        guard let credential else {
            throw CloudSyncError(.misuse, "no credential: call cloudsync_network_set_apikey(key) or cloudsync_network_set_token(token) first")
        }
        var headers = [("Authorization", "Bearer \(credential.bearer)"), ("Accept", "sqlc/plain")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body)
    }

    /// The response if its status is below 400; otherwise its body (the server's message) as
    /// the error.
    private func expectOK(_ response: HTTPResponse, _ step: String) throws(CloudSyncError) -> HTTPResponse {
        guard response.status >= 400 || response.status < 100 else { return response }
        let message = response.text.trimmed
        throw CloudSyncError(.network, message.isEmpty ? "server answered HTTP \(response.status) while \(step)" : message, httpStatus: response.status)
    }

    static func cursor(_ context: SyncContext, _ versionKey: String, _ seqKey: String) throws(CloudSyncError) -> (Int64, Int64) {
        (try context.integerSetting(versionKey) ?? 0, try context.integerSetting(seqKey) ?? 0)
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }
}

extension String {
    var trimmed: String {
        // "\r\n" is one Character (one grapheme cluster), equal to neither "\r" nor "\n": header
        // lines from libcurl end with it.
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
