import CloudSyncCore
import CloudSyncNetwork
import Foundation
import GRDB
import Synchronization

/// Syncs a GRDB database with a `cloudsync-server`: sends local changes, receives and merges
/// everyone else's.
///
/// ```swift
/// let client = try SyncClient(
///     database: dbQueue,
///     endpoint: "https://sync.example.com/todo.sqlite",
///     credential: .apiKey("csk_..."))
/// let result = try await client.sync()
/// print("sent \(result.sent), received \(result.received)")
/// ```
///
/// Network requests run on a dedicated thread; the database is only accessed for short
/// writes (encoding a payload, moving a cursor, merging a downloaded payload), so the app keeps
/// reading and writing while a sync waits on the network. Operations of one client run one at
/// a time, in call order.
///
/// After a merge, GRDB observers (`ValueObservation`, `DatabaseRegionObservation`) of the
/// changed tables are notified as for local writes.
public final class SyncClient: Sendable {
    /// Tuning of a client.
    public struct Options: Sendable {
        /// Local changes per uploaded payload; a larger backlog goes in several.
        public var maxChangesPerUpload = 10_000
        /// Downloads per receive, a bound on one call's work (the server pages its backlog).
        public var maxDownloadsPerReceive = 1_000
        /// Seconds allowed to connect, and for one whole request (libcurl transport).
        public var connectTimeoutSeconds = 10
        public var requestTimeoutSeconds = 60
        /// Makes the HTTP transport (default: libcurl with the timeouts above). Called once, on
        /// the client's network thread; the transport is used only there.
        public var makeTransport: (@Sendable () throws -> any HTTPTransport)?

        public init() {}
    }

    /// The database this client syncs.
    public let database: any DatabaseWriter
    /// The server and database name, parsed from the endpoint.
    public let endpoint: ConnectionString
    let options: Options
    let credential: SyncCredential
    let bearer: Mutex<String>
    let http: HTTPExecutor
    let operations = AsyncLock()
    let broadcaster = EventBroadcaster()
    /// > 0 while this client writes merged changes, so that its own merges do not wake the
    /// background loop as local writes do.
    let merges = MergeTracker()
    let background = Mutex<Task<Void, Never>?>(nil)

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - database: a `DatabaseQueue` or `DatabasePool` whose configuration called
    ///     ``GRDB/Configuration/enableCloudSync()``.
    ///   - endpoint: `http(s)://host[:port]/DATABASE`, as for `cloudsync_network_init`
    ///     (`sqlitecloud://` works too). A `?apikey=` or `?token=` in it is used when
    ///     `credential` is nil.
    ///   - credential: an API key, or a token with a refresh closure.
    public init(database: any DatabaseWriter, endpoint: String, credential: SyncCredential? = nil, options: Options = Options()) throws(SyncError) {
        let parsed: ConnectionString
        do { parsed = try ConnectionString(parsing: endpoint) } catch { throw SyncError(.misuse, error.message) }
        let credential: SyncCredential? = credential ?? parsed.credential.map { given in
            switch given {
            case .apiKey(let key): .apiKey(key)
            case .token(let token): .token(token)
            }
        }
        guard let credential, !credential.initialBearer.isEmpty else {
            throw SyncError(.misuse, "no credential: pass credential: .apiKey(key) or .token(token, refresh:)")
        }
        self.database = database
        self.endpoint = parsed
        self.credential = credential
        self.bearer = Mutex(credential.initialBearer)
        self.options = options
        let connect = options.connectTimeoutSeconds, request = options.requestTimeoutSeconds
        self.http = HTTPExecutor(makeTransport: options.makeTransport ?? {
            try CurlTransport(connectTimeoutSeconds: connect, requestTimeoutSeconds: request)
        })
    }

    deinit {
        background.withLock { $0?.cancel() }
        broadcaster.finishAll()
    }

    // MARK: Operations

    /// Sends local changes, then receives the server's.
    @discardableResult
    public func sync() async throws(SyncError) -> SyncResult {
        try await run(.sync, reportFailure: true)
    }

    /// Sends every local change the server has not accepted yet.
    @discardableResult
    public func send() async throws(SyncError) -> SyncResult {
        try await run(.send, reportFailure: true)
    }

    /// Receives and merges every change the server has for this database.
    @discardableResult
    public func receive() async throws(SyncError) -> SyncResult {
        try await run(.receive, reportFailure: true)
    }

    /// Events of every operation, background ones included, from now on: for a UI.
    ///
    /// Each call returns a new stream; it ends when the client goes away or the consuming task
    /// stops iterating. When the consumer falls behind, the oldest events are dropped.
    public func events(bufferingNewest limit: Int = 64) -> AsyncStream<SyncEvent> {
        broadcaster.subscribe(bufferingNewest: limit)
    }

    /// The token or key sent with the next request (after refreshes).
    public var currentCredential: String { bearer.withLock { $0 } }

    func run(_ operation: SyncOperation, reportFailure: Bool) async throws(SyncError) -> SyncResult {
        await operations.lock()
        defer { operations.unlock() }
        broadcaster.emit(.started(operation))
        do {
            var result = SyncResult()
            if operation != .receive {
                result.sent = try await performSend()
                broadcaster.emit(.sent(changes: result.sent))
            }
            if operation != .send {
                let received = try await performReceive()
                result.received = received.received
                result.deniedRows = received.deniedRows
                result.changedTables = received.changedTables
                broadcaster.emit(.received(changes: result.received, changedTables: result.changedTables, deniedRows: result.deniedRows))
            }
            broadcaster.emit(.completed(operation, result))
            return result
        } catch {
            let failure = SyncError.wrapping(error)
            if reportFailure { broadcaster.emit(.failed(failure, retryIn: nil)) }
            throw failure
        }
    }

    // MARK: Protocol (sync-protocol.md)

    private struct Page: Sendable {
        var site: [UInt8]
        var payload: [UInt8]
        var last: SyncCursor
        var count: Int
    }

    /// Upload loop: encode a page after the send cursor (short write), upload it (network),
    /// move the cursor once the server accepted it (short write).
    private func performSend() async throws -> Int {
        var sent = 0
        let maxChanges = options.maxChangesPerUpload
        while true {
            try Task.checkCancellation()
            let page: Page? = try await database.write { db in
                let context = try CloudSync.context(db)
                let site = try context.siteID()
                let cursor = try db.syncCursor(CursorKey.sendVersion, CursorKey.sendSeq)
                guard let page = try context.encodePayload(
                    where: [.site(site, equal: true), .after(dbVersion: cursor.dbVersion, seq: cursor.seq)],
                    maxChanges: maxChanges)
                else { return nil }
                return Page(site: site, payload: page.payload,
                            last: SyncCursor(dbVersion: page.lastDbVersion, seq: page.lastSeq), count: page.count)
            }
            guard let page else { return sent }
            let upload = endpoint.baseURL(site: page.site) + "/upload"
            let target = try await authorized("GET", upload, step: "asking for an upload URL").text.trimmedSpaces
            guard target.hasPrefix("http://") || target.hasPrefix("https://") else {
                throw SyncError(.network, "the server gave no upload URL (answered \"\(target.prefix(80))\")")
            }
            _ = try Self.expectOK(try await http.send(HTTPRequest(
                method: "PUT", url: target, headers: [("Content-Type", "application/octet-stream")], body: page.payload)),
                step: "uploading changes")
            let notice = UploadNotice.body(url: target)
            _ = try await authorized("POST", upload, body: notice, contentType: "application/json", step: "confirming the upload")
            try await database.write { db in
                try db.setSyncCursor(page.last, CursorKey.sendVersion, CursorKey.sendSeq)
            }
            sent += page.count
        }
    }

    struct Merged: Sendable {
        var received = 0
        var deniedRows: [String] = []
        var changedTables: [String] = []
    }

    /// Download loop: ask for changes after the receive cursor (network), download them
    /// (network), merge them and move the cursor in one transaction, until nothing is left.
    private func performReceive() async throws -> Merged {
        let site = try await database.write { db in try CloudSync.context(db).siteID() }
        var total = Merged()
        var changed = Set<String>()
        for _ in 0..<options.maxDownloadsPerReceive {
            try Task.checkCancellation()
            let cursor = try await database.read { db in try db.syncCursor(CursorKey.checkVersion, CursorKey.checkSeq) }
            let check = endpoint.baseURL(site: site) + "/\(cursor.dbVersion)/\(cursor.seq)/check"
            let answer = try await authorized("POST", check, step: "checking for changes").text.trimmedSpaces
            guard !answer.isEmpty else { break }
            guard answer.hasPrefix("http://") || answer.hasPrefix("https://") else {
                throw SyncError(.network, "the server answered the check with \"\(answer.prefix(80))\" instead of a download URL")
            }
            let payload = try Self.expectOK(try await http.send(HTTPRequest(method: "GET", url: answer)), step: "downloading changes").body
            let merged = try await merges.tracking {
                try await database.write { db in try Self.merge(payload, into: db) }
            }
            total.received += merged.received
            total.deniedRows += merged.deniedRows
            changed.formUnion(merged.changedTables)
        }
        total.changedTables = changed.sorted()
        return total
    }

    /// Merges `payload`, moves the receive cursor and notifies GRDB observers of the tables
    /// whose rows changed. Runs inside a write transaction.
    static func merge(_ payload: [UInt8], into db: Database) throws -> Merged {
        let context = try CloudSync.context(db)
        let before = try context.databaseVersion()
        let report = try context.applyPayload(payload)
        try db.setSyncCursor(SyncCursor(dbVersion: report.lastDbVersion, seq: report.lastSeq), CursorKey.checkVersion, CursorKey.checkSeq)
        // Merged changes are stamped above every version present before the merge: a table
        // has changed rows if its clock has a version above `before`. The engine wrote them
        // with its own statements, which GRDB does not observe: tell it.
        var changed: [String] = []
        for table in try context.synchronizedTableNames {
            let clock = (table + "_cloudsync").quotedDatabaseIdentifier
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(clock) WHERE db_version > ?)", arguments: [before]) == true {
                changed.append(table)
                try db.notifyChanges(in: Table(table))
            }
        }
        return Merged(received: report.changes, deniedRows: report.failedRows, changedTables: changed)
    }

    // MARK: HTTP

    /// Sends a request with the credential; on HTTP 401 with a refreshable token, refreshes
    /// it once and repeats the request.
    private func authorized(_ method: String, _ url: String, body: [UInt8] = [], contentType: String? = nil, step: String) async throws -> HTTPResponse {
        var refreshed = false
        while true {
            var headers = [("Authorization", "Bearer \(currentCredential)"), ("Accept", "sqlc/plain")]
            if let contentType { headers.append(("Content-Type", contentType)) }
            let response = try await http.send(HTTPRequest(method: method, url: url, headers: headers, body: body))
            if response.status == 401, !refreshed, let refresh = credential.refresh {
                refreshed = true
                let fresh: String
                do {
                    fresh = try await refresh()
                } catch {
                    throw SyncError(.unauthorized, "the server refused the token and refreshing it failed: \(SyncError.wrapping(error).message)", httpStatus: 401)
                }
                guard !fresh.isEmpty else {
                    throw SyncError(.unauthorized, "the server refused the token and the refresh returned an empty token", httpStatus: 401)
                }
                bearer.withLock { $0 = fresh }
                continue
            }
            return try Self.expectOK(response, step: step)
        }
    }

    /// The response if its status is below 400; otherwise the server's message as the error.
    static func expectOK(_ response: HTTPResponse, step: String) throws(SyncError) -> HTTPResponse {
        guard response.status >= 400 || response.status < 100 else { return response }
        let text = response.text.trimmedSpaces
        let message = text.isEmpty ? "server answered HTTP \(response.status) while \(step)" : text
        let code: SyncError.Code = response.status == 401 || response.status == 403 ? .unauthorized : .network
        throw SyncError(code, message, httpStatus: response.status)
    }
}

extension String {
    var trimmedSpaces: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
